"""CloudFormation-compatible stacks: change sets, stack operations with rollback, drift."""
