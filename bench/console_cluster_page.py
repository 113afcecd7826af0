"""Server time of the console's cluster pages with 1,000 access entries (the issue's 200 ms budget).

Starts a private `kubegate up`, seeds one cluster of 1,000 entries (bench/seed.py: 1-3 policies
each), and reads each page's ``Server-Timing`` header (wall and CPU time the handler took to
make its calls and render; on a loaded machine the CPU time is the fairer number) as the
account root and as an IAM user allowed ``eks:*`` (whose every call and every disabled-button
check is a policy evaluation).

    .venv/bin/python bench/console_cluster_page.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from conftest import Server  # noqa: E402
from console_client import ConsoleClient  # noqa: E402
from seed import seed  # noqa: E402

from kubegate.console.cluster_data import PAGE_SIZE  # noqa: E402

_TIMING = re.compile(r"page;dur=([0-9.]+), cpu;dur=([0-9.]+)")
_NEXT = re.compile(r'rel="next" href="([^"]+)"')


Timing = tuple[float, float]  # wall, CPU (ms)


def timed_get(client: ConsoleClient, path: str) -> tuple[Timing, str]:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    found = _TIMING.search(answer.headers["server-timing"])
    assert found, answer.headers["server-timing"]
    return (float(found.group(1)), float(found.group(2))), answer.text


def median(times: list[Timing]) -> Timing:
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def measure(client: ConsoleClient, cluster: str, rounds: int) -> dict[str, Timing]:
    """Medians of the list and the first entry page; then every page once, following "Next"."""
    out: dict[str, Timing] = {}
    for label, url in (("list", "/console/clusters"), ("page 1", f"/console/clusters/{cluster}")):
        timed_get(client, url)  # warm up
        out[label] = median([timed_get(client, url)[0] for _ in range(rounds)])
    times: list[Timing] = []
    path: str | None = f"/console/clusters/{cluster}"
    while path:
        timing, text = timed_get(client, path)
        times.append(timing)
        found = _NEXT.search(text)
        path = html.unescape(found.group(1)) if found else None
    out[f"all {len(times)} pages, median"] = median(times)
    out["slowest page"] = max(t[0] for t in times), max(t[1] for t in times)
    out["all pages, sum"] = sum(t[0] for t in times), sum(t[1] for t in times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data")
        server.start()
        try:
            cluster = str(seed(str(server.data_dir), clusters=1, entries=1000)["cluster"])
            root = ConsoleClient(server)
            root.sign_in()
            iam = server.client("iam")
            iam.create_user(UserName="console-bench")
            iam.put_user_policy(UserName="console-bench", PolicyName="eks", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "eks:*", "Resource": "*"}]}))
            key = iam.create_access_key(UserName="console-bench")["AccessKey"]
            user = ConsoleClient(server)
            user.sign_in((key["AccessKeyId"], key["SecretAccessKey"]))
            print(f"cluster {cluster}: 1,000 entries, {PAGE_SIZE} per console page")
            for who, client in (("root", root), ("IAM user (eks:*)", user)):
                for label, (wall, cpu) in measure(client, cluster, args.rounds).items():
                    print(f"{who:18} {label:24} wall {wall:8.1f} ms   cpu {cpu:8.1f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
