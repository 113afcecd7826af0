// One CloudFormation scenario through the AWS SDK for JavaScript v3 against kubegate.
//
// Usage: node cloudformation_scenario.mjs <stack-name>
// Environment: KUBEGATE_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and
// NODE_EXTRA_CA_CERTS (kubegate's CA; Node reads it at startup).
//
// Every step prints one JSON line ({"step": ..., ...}) of what the SDK returned. Before deleting
// the stack it prints {"step": "checkpoint"} and reads one line from stdin, so the caller can look
// at the live resources with another client first. Any unexpected failure prints
// {"step": "failed", ...} and exits 1.

import { createInterface } from "node:readline";

import {
  CloudFormationClient,
  CreateChangeSetCommand,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  ValidateTemplateCommand,
  waitUntilChangeSetCreateComplete,
  waitUntilStackCreateComplete,
  waitUntilStackDeleteComplete,
  waitUntilStackUpdateComplete,
} from "@aws-sdk/client-cloudformation";

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`environment variable ${name} is not set`);
  }
  return value;
}

function emit(step, fields) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + "\n");
}

function isDate(value) {
  return value instanceof Date && !Number.isNaN(value.getTime());
}

// Waiters poll no sooner than minDelay seconds (30 by default for these); kubegate's stacks
// settle in well under that, so poll every 1-2 seconds to keep the test short.
function waiter(client) {
  return { client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 };
}

function readLine() {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    let done = false;
    const finish = (line) => {
      if (!done) {
        done = true;
        lines.close();
        resolve(line);
      }
    };
    lines.once("line", finish);
    lines.once("close", () => finish(null));
  });
}

const VALIDATE_TEMPLATE = `
AWSTemplateFormatVersion: "2010-09-09"
Description: validate only
Parameters:
  Team:
    Type: String
    Default: platform
    Description: the owning team
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::\${AWS::AccountId}:root"}
            Action: sts:AssumeRole
`;

function stackTemplate(stackName) {
  return `
AWSTemplateFormatVersion: "2010-09-09"
Description: kubegate JS SDK scenario
Parameters:
  Namespace:
    Type: String
    Default: team-a
Resources:
  Cluster:
    Type: AWS::EKS::Cluster
    Properties:
      Name: ${stackName}-cluster
      RoleArn: !Sub "arn:aws:iam::\${AWS::AccountId}:role/eks-cluster"
      ResourcesVpcConfig:
        SubnetIds: [subnet-1]
      AccessConfig:
        AuthenticationMode: API
  DevRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Sub "\${AWS::StackName}-dev"
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::\${AWS::AccountId}:root"}
            Action: sts:AssumeRole
  DevAccess:
    Type: AWS::EKS::AccessEntry
    Properties:
      ClusterName: !Ref Cluster
      PrincipalArn: !GetAtt DevRole.Arn
      AccessPolicies:
        - PolicyArn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy
          AccessScope:
            Type: namespace
            Namespaces: [!Ref Namespace]
Outputs:
  ClusterArn:
    Value: !GetAtt Cluster.Arn
`;
}

async function main() {
  const stackName = process.argv[2];
  if (!stackName) {
    throw new Error("usage: node cloudformation_scenario.mjs <stack-name>");
  }
  const client = new CloudFormationClient({
    endpoint: required("KUBEGATE_ENDPOINT"),
    region: required("AWS_REGION"),
    credentials: {
      accessKeyId: required("AWS_ACCESS_KEY_ID"),
      secretAccessKey: required("AWS_SECRET_ACCESS_KEY"),
    },
    maxAttempts: 1,
  });
  const capabilities = ["CAPABILITY_NAMED_IAM"];

  const validated = await client.send(new ValidateTemplateCommand({ TemplateBody: VALIDATE_TEMPLATE }));
  emit("validate", {
    parameters: validated.Parameters ?? null,
    description: validated.Description ?? null,
    capabilities: validated.Capabilities ?? null,
  });

  const created = await client.send(new CreateStackCommand({
    StackName: stackName,
    TemplateBody: stackTemplate(stackName),
    Parameters: [{ ParameterKey: "Namespace", ParameterValue: "team-blue" }],
    Capabilities: capabilities,
    Tags: [{ Key: "owner", Value: "js-sdk-test" }],
  }));
  emit("create", { stackId: created.StackId ?? null });

  const createWait = await waitUntilStackCreateComplete(waiter(client), { StackName: stackName });
  emit("create_wait", { state: createWait.state });

  const described = await client.send(new DescribeStacksCommand({ StackName: stackName }));
  const stack = described.Stacks[0];
  emit("describe", {
    count: described.Stacks.length,
    stackId: stack.StackId,
    status: stack.StackStatus,
    creationTimeIsDate: isDate(stack.CreationTime),
    parameters: stack.Parameters ?? null,
    capabilities: stack.Capabilities ?? null,
    tags: stack.Tags ?? null,
    outputs: stack.Outputs ?? null,
  });

  const changeSet = await client.send(new CreateChangeSetCommand({
    StackName: stackName,
    ChangeSetName: `${stackName}-namespace`,
    ChangeSetType: "UPDATE",
    UsePreviousTemplate: true,
    Parameters: [{ ParameterKey: "Namespace", ParameterValue: "team-green" }],
    Capabilities: capabilities,
  }));
  emit("create_change_set", { id: changeSet.Id ?? null, stackId: changeSet.StackId ?? null });

  const changeSetWait = await waitUntilChangeSetCreateComplete(
    waiter(client), { StackName: stackName, ChangeSetName: changeSet.Id },
  );
  emit("change_set_wait", { state: changeSetWait.state });

  const changes = await client.send(new DescribeChangeSetCommand({
    StackName: stackName, ChangeSetName: changeSet.Id,
  }));
  emit("describe_change_set", {
    status: changes.Status,
    executionStatus: changes.ExecutionStatus,
    creationTimeIsDate: isDate(changes.CreationTime),
    parameters: changes.Parameters ?? null,
    changes: (changes.Changes ?? []).map((change) => ({
      type: change.Type,
      action: change.ResourceChange?.Action ?? null,
      logicalResourceId: change.ResourceChange?.LogicalResourceId ?? null,
      resourceType: change.ResourceChange?.ResourceType ?? null,
      replacement: change.ResourceChange?.Replacement ?? null,
    })),
  });

  await client.send(new ExecuteChangeSetCommand({ StackName: stackName, ChangeSetName: changeSet.Id }));
  emit("execute_change_set", {});

  const updateWait = await waitUntilStackUpdateComplete(waiter(client), { StackName: stackName });
  emit("update_wait", { state: updateWait.state });

  const events = await client.send(new DescribeStackEventsCommand({ StackName: stackName }));
  const all = events.StackEvents ?? [];
  emit("events", {
    count: all.length,
    timestampsAreDates: all.every((event) => isDate(event.Timestamp)),
    newestFirst: all.every((event, i) => i === 0 || all[i - 1].Timestamp >= event.Timestamp),
    first: all.slice(0, 4).map((event) => ({
      logicalResourceId: event.LogicalResourceId,
      status: event.ResourceStatus,
    })),
  });

  const missing = `${stackName}-missing`;
  try {
    await client.send(new DescribeStacksCommand({ StackName: missing }));
    throw new Error(`DescribeStacks of ${missing} succeeded`);
  } catch (error) {
    if (error.$metadata === undefined) {
      throw error;
    }
    emit("missing", {
      name: error.name,
      message: error.message,
      fault: error.$fault ?? null,
      httpStatusCode: error.$metadata.httpStatusCode ?? null,
    });
  }

  emit("checkpoint", {});
  await readLine();

  await client.send(new DeleteStackCommand({ StackName: stackName }));
  emit("delete", {});

  const deleteWait = await waitUntilStackDeleteComplete(waiter(client), { StackName: stackName });
  emit("delete_wait", { state: deleteWait.state });
}

try {
  await main();
} catch (error) {
  emit("failed", {
    name: error?.name ?? null,
    message: error?.message ?? String(error),
    fault: error?.$fault ?? null,
    metadata: error?.$metadata ?? null,
    // A deserialization failure carries the raw HTTP response: status and headers, for the report.
    response: error?.$response
      ? { statusCode: error.$response.statusCode ?? null, headers: error.$response.headers ?? null }
      : null,
    reason: error?.result?.reason === undefined ? null : String(JSON.stringify(error.result.reason)),
    stack: error?.stack ?? null,
  });
  process.exit(1);
}
