"""``python -m bench load`` and ``python -m bench memory``: the app under browser sessions.

Both start ``streamlit run app.py`` on a free 127.0.0.1 port with a private ``LOOPLENS_HOME``,
wait for ``/_stcore/health`` and drive Debian's ``/usr/bin/chromium`` through Playwright (one
browser, one context per session, all sessions in one asyncio loop). A visit is a ``goto`` of the
page's URL path, timed to a *settled* page: the main area's ``h1`` visible, Streamlit's running
indicator (``stStatusWidget``) and skeletons gone, held for ``HOLD_MS`` (the indicator can blink
off between two script runs); the time reported is when that state began, in ms since the
navigation started. A visit is an error when it shows ``stException`` or an error box, or does
not settle within ``--timeout``.

Server figures come from ``/proc/<pid>`` (no extra dependency): CPU seconds (user + system)
over a phase, divided by the page runs in it, and RSS (``VmRSS``; ``VmHWM`` for the peak).

- ``load``: the default demo (generated and its serving layer built *before* the server starts;
  or ``--url`` / ``--serving``), one solo warm-up session (per-visit settle time and server CPU),
  then ``--sessions`` concurrent sessions visiting ``--pages`` pages each.
- ``memory``: one session visiting every registered page ``--rounds`` times (default twice);
  RSS after each visit and the peak (meant for ``--url`` at 1M customers with ``--serving``).

Bounded: every wait has a timeout, the whole run has ``--deadline``, and the server's process
group is terminated on exit. Prints tables; writes ``--json``. Never asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.report import Table

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
LOAD_PAGES: tuple[tuple[str, str], ...] = (
    ("Loop health", "/"),
    ("Lifecycle", "/lifecycle"),
    ("Channels & attribution", "/channels"),
    ("Experiments", "/experiments"),
)
"""The load test's pages, in visiting order: (title, URL path)."""
HOLD_MS = 500
POLL_MS = 100

SETTLED_JS = """
(holdMs) => {
  const shown = (el) => !!el && el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== 'hidden';
  const idle = !shown(document.querySelector('[data-testid="stStatusWidget"]'))
    && !document.querySelector('[data-testid="stSkeleton"]')
    && shown(document.querySelector('[data-testid="stMain"] h1'));
  const now = performance.now();
  if (!idle) { window.__llIdleSince = null; return false; }
  if (window.__llIdleSince == null) window.__llIdleSince = now;
  return now - window.__llIdleSince >= holdMs ? window.__llIdleSince : false;
}
"""
"""Returns the time (ms since navigation start) the page became idle, once it stayed so."""

ERRORS_JS = """
() => ({
  exceptions: document.querySelectorAll('[data-testid="stException"]').length,
  alerts: document.querySelectorAll('[data-testid="stAlertContentError"]').length,
  h1: (document.querySelector('[data-testid="stMain"] h1') || {}).innerText || '',
})
"""


# --- parsing ------------------------------------------------------------------------------------


def _pages_arg(value: str) -> int | str:
    if value == "all":
        return value
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("--pages must be ≥ 1 or 'all'")
    return n


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """``load`` / ``memory`` and their options (``argv`` starts with the subcommand)."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("load", "concurrent browser sessions on the app"),
        ("memory", "server RSS after visiting every page --rounds times"),
    ):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--url", help="warehouse URL or DuckDB file (default: the demo)")
        s.add_argument("--serving", help="serving-store URL or DuckDB file")
        s.add_argument("--json", type=Path, help="write the figures here")
        s.add_argument("--timeout", type=float, default=120.0, help="per visit, s")
        s.add_argument("--deadline", type=float, default=1200.0, help="whole run, s")
        s.add_argument("--keep-home", action="store_true", help="keep the LOOPLENS_HOME dir")
        s.add_argument("--home", type=Path, help="use (and keep) this LOOPLENS_HOME")
        if name == "load":
            s.add_argument("--sessions", type=int, default=20)
            s.add_argument("--pages", type=_pages_arg, default=4, help="1–4 or 'all'")
            s.add_argument("--warmup", type=int, default=1, help="solo rounds before the load")
            s.add_argument("--repeat", type=int, default=1, help="concurrent rounds")
        else:
            s.add_argument("--pages", type=_pages_arg, default="all", help="1–4 or 'all'")
            s.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(list(argv))
    if getattr(args, "sessions", 1) < 1:
        p.error("--sessions must be ≥ 1")
    return args


def page_list(pages: int | str) -> list[tuple[str, str]]:
    """The pages to visit: the first ``pages`` load pages, or every registered page."""
    if pages == "all":
        from components.navigation import PAGE_SPECS

        return [(s.title, "/" if s.default else "/" + s.url_path) for s in PAGE_SPECS]
    return list(LOAD_PAGES[: int(pages)])


def as_url(value: str | None) -> str | None:
    """A DuckDB file path becomes a ``duckdb:///`` URL; URLs pass through."""
    if not value:
        return None
    return value if "://" in value else f"duckdb:///{Path(value).resolve()}"


# --- statistics -----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100), linear between order statistics; NaN when empty."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class Visit:
    session: int
    round: int
    page: str
    path: str
    settled_s: float | None  # None: did not settle
    wall_s: float
    error: str | None = None
    server_cpu_s: float | None = None  # only for solo visits
    server_rss_mb: float | None = None
    browser_cpu_s: float | None = None  # only for solo visits


def summarise(visits: Sequence[Visit]) -> dict[str, float | int]:
    """p50 / p95 / max of the settled times, and the error count."""
    times = [v.settled_s for v in visits if v.settled_s is not None and v.error is None]
    return {
        "visits": len(visits),
        "p50_s": percentile(times, 50),
        "p95_s": percentile(times, 95),
        "max_s": max(times) if times else float("nan"),
        "errors": sum(v.error is not None for v in visits),
    }


# --- the server ---------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_proc_stat(line: str) -> float:
    """CPU seconds (utime + stime) from a ``/proc/<pid>/stat`` line."""
    fields = line[line.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of stat


def parse_proc_status(text: str) -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) in MB from ``/proc/<pid>/status``."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) / 1024
    return out


def browser_cpu_seconds(root: int, exclude_group: int | None) -> float:
    """CPU seconds of every live descendant of ``root`` (the Playwright driver and chromium),
    leaving out the server's process group; includes reaped children (``cutime``/``cstime``)."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            line = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(stat.parent.name)
        fields = line[line.rindex(")") + 2 :].split()
        if exclude_group is not None and int(fields[2]) == exclude_group:
            continue
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = sum(int(x) for x in fields[11:15]) / CLOCK_TICKS
    total, todo = 0.0, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``streamlit run app.py`` in its own process group, on 127.0.0.1."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "streamlit.log"
        self._env = {**os.environ, "LOOPLENS_HOME": str(home), **env}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> None:
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                "--server.headless", "true", "--server.address", "127.0.0.1",
                "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
            ],
            cwd=ROOT, env=self._env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"no answer from {self.base}/_stcore/health in {timeout:.0f} s")

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return parse_proc_stat(Path(f"/proc/{self.proc.pid}/stat").read_text())

    def memory_mb(self) -> dict[str, float]:
        assert self.proc is not None
        return parse_proc_status(Path(f"/proc/{self.proc.pid}/status").read_text())

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # our own group only (start_new_session)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def prepare_demo() -> None:
    """Generate the default demo into ``$LOOPLENS_HOME`` and build its serving layer, as the
    app's first start does (also the demo decision log). Run in a child process."""
    from data.app_state.store import open_store
    from data.demo import generator as demo
    from data.serving import resolve_serving_config
    from data.serving.refresh import refresh
    from data.warehouse import DEMO_PATH, demo_url, open_engine
    from metrics.experiments.demo_decisions import seed_demo_decisions

    DEMO_PATH.parent.mkdir(parents=True, exist_ok=True)
    if not DEMO_PATH.exists():
        demo.generate(str(DEMO_PATH))
        engine = open_engine(demo_url(), read_only=True)
        seed_demo_decisions(engine, open_store())
        engine.dispose()
    serving = resolve_serving_config()
    if serving.file_path is not None and not serving.file_path.exists():
        engine = open_engine(demo_url(), read_only=True)
        refresh(engine, serving, demo_url())
        engine.dispose()


# --- the browser -----------------------------------------------------------------------------


async def _visit(context, base: str, title: str, path: str, timeout_s: float) -> Visit:  # noqa: ANN001
    page = await context.new_page()
    t0 = time.perf_counter()
    visit = Visit(session=-1, round=-1, page=title, path=path, settled_s=None, wall_s=0.0)
    try:
        await page.goto(base + path, wait_until="commit", timeout=timeout_s * 1000)
        handle = await page.wait_for_function(
            SETTLED_JS, arg=HOLD_MS, polling=POLL_MS, timeout=timeout_s * 1000
        )
        visit.settled_s = float(await handle.json_value()) / 1000
        found = await page.evaluate(ERRORS_JS)
        if found["exceptions"]:
            visit.error = f"{found['exceptions']} exception(s)"
        elif found["alerts"]:
            visit.error = f"{found['alerts']} error box(es)"
    except Exception as exc:  # noqa: BLE001 - a timeout or a browser error is a failed visit
        visit.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    finally:
        visit.wall_s = time.perf_counter() - t0
        await page.close()
    return visit


async def _session(browser, base, session, rnd, pages, timeout_s) -> list[Visit]:  # noqa: ANN001
    context = await browser.new_context(viewport={"width": 1440, "height": 1000})
    visits = []
    try:
        for title, path in pages:
            v = await _visit(context, base, title, path, timeout_s)
            v.session, v.round = session, rnd
            visits.append(v)
    finally:
        await context.close()
    return visits


async def _solo(browser, server: Server, pages, rounds: int, timeout_s: float) -> list[Visit]:  # noqa: ANN001
    """One session, visits one after another: per-visit server CPU and RSS."""
    context = await browser.new_context(viewport={"width": 1440, "height": 1000})
    visits = []
    try:
        for rnd in range(rounds):
            for title, path in pages:
                cpu0 = server.cpu_seconds()
                client0 = browser_cpu_seconds(os.getpid(), server.proc.pid)
                v = await _visit(context, server.base, title, path, timeout_s)
                v.server_cpu_s = server.cpu_seconds() - cpu0
                v.browser_cpu_s = browser_cpu_seconds(os.getpid(), server.proc.pid) - client0
                v.server_rss_mb = server.memory_mb().get("VmRSS")
                v.session, v.round = 0, rnd
                visits.append(v)
                print(
                    f"  solo round {rnd + 1} {title}: settled {v.settled_s} s, "
                    f"server CPU {v.server_cpu_s:.2f} s, browser CPU {v.browser_cpu_s:.2f} s, "
                    f"RSS {v.server_rss_mb:.0f} MB" + (f"  ERROR {v.error}" if v.error else ""),
                    flush=True,
                )
    finally:
        await context.close()
    return visits


async def _drive(args: argparse.Namespace, server: Server, result: dict) -> None:
    from playwright.async_api import async_playwright

    pages = page_list(args.pages)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            rounds = args.rounds if args.command == "memory" else args.warmup
            if rounds:
                solo = await _solo(browser, server, pages, rounds, args.timeout)
                result["solo"] = [asdict(v) for v in solo]
            result["memory_after_solo_mb"] = server.memory_mb()
            if args.command != "load":
                return
            result["concurrent"] = []
            for rnd in range(args.repeat):
                cpu0, t0 = server.cpu_seconds(), time.perf_counter()
                client0 = browser_cpu_seconds(os.getpid(), server.proc.pid)
                batches = await asyncio.gather(
                    *(
                        _session(browser, server.base, i, rnd, pages, args.timeout)
                        for i in range(args.sessions)
                    )
                )
                visits = [v for batch in batches for v in batch]
                cpu = server.cpu_seconds() - cpu0
                wall = time.perf_counter() - t0
                client = browser_cpu_seconds(os.getpid(), server.proc.pid) - client0
                summary = summarise(visits)
                summary.update(
                    round=rnd,
                    wall_s=wall,
                    server_cpu_s=cpu,
                    server_cpu_per_visit_s=cpu / max(len(visits), 1),
                    server_cpu_share=cpu / wall,
                    browser_cpu_s=client,
                    browser_cpu_share=client / wall,
                    memory_mb=server.memory_mb(),
                )
                result["concurrent"].append(
                    {"summary": summary, "visits": [asdict(v) for v in visits]}
                )
                print(
                    f"  concurrent round {rnd + 1}: {summary['visits']} visits in {wall:.1f} s, "
                    f"p95 {summary['p95_s']:.2f} s, errors {summary['errors']}",
                    flush=True,
                )
        finally:
            await browser.close()


# --- reporting -------------------------------------------------------------------------------


def render(result: dict) -> str:
    out = []
    solo = [Visit(**v) for v in result.get("solo", [])]
    if solo:
        t = Table(
            "Solo session, one visit at a time (settle s, server CPU s per page run, RSS MB)",
            ["round", "page", "settled s", "server CPU s", "browser CPU s", "RSS MB", "error"],
        )
        for v in solo:
            t.add(
                v.round + 1, v.page, v.settled_s if v.settled_s is not None else "—",
                v.server_cpu_s or 0.0, v.browser_cpu_s or 0.0, v.server_rss_mb or 0.0,
                v.error or "",
            )  # fmt: skip
        out.append(t.render())
    for block in result.get("concurrent", []):
        s = block["summary"]
        visits = [Visit(**v) for v in block["visits"]]
        t = Table(
            f"{result['sessions']} concurrent sessions × {len(result['pages'])} pages, round "
            f"{s['round'] + 1}: {s['wall_s']:.1f} s wall, server CPU {s['server_cpu_s']:.1f} s "
            f"({s['server_cpu_per_visit_s']:.2f} s per page run, "
            f"{s['server_cpu_share']:.2f} cores), browser CPU {s['browser_cpu_s']:.1f} s "
            f"({s['browser_cpu_share']:.2f} cores), RSS {s['memory_mb'].get('VmRSS', 0):.0f} MB",
            ["page", "visits", "p50 s", "p95 s", "max s", "errors"],
        )
        for title, _ in result["pages"]:
            row = summarise([v for v in visits if v.page == title])
            t.add(title, row["visits"], row["p50_s"], row["p95_s"], row["max_s"], row["errors"])
        t.add("all", s["visits"], s["p50_s"], s["p95_s"], s["max_s"], s["errors"])
        out.append(t.render())
        errors = sorted({v.error for v in visits if v.error})
        if errors:
            out.append("errors: " + "; ".join(errors[:5]))
    mem = result.get("memory_final_mb", {})
    if mem:
        out.append(
            f"\nserver RSS at the end {mem.get('VmRSS', 0):.0f} MB, peak (VmHWM) "
            f"{mem.get('VmHWM', 0):.0f} MB"
        )
    return "\n".join(out)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    url, serving = as_url(args.url), as_url(args.serving)
    home = args.home or Path(tempfile.mkdtemp(prefix="looplens-load-"))
    home.mkdir(parents=True, exist_ok=True)
    env = {"LOOPLENS_APP_STATE_URL": f"sqlite:///{home / 'app_state.sqlite'}"}
    if url:
        env["LOOPLENS_WAREHOUSE_URL"] = url
    if serving:
        env["LOOPLENS_SERVING_URL"] = serving
    result: dict = {
        "command": args.command,
        "argv": list(argv),
        "warehouse": url or "demo",
        "serving": serving or "default",
        "sessions": getattr(args, "sessions", 1),
        "pages": page_list(args.pages),
        "hold_ms": HOLD_MS,
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
    }
    if not url:
        t0 = time.perf_counter()
        print(f"preparing the demo warehouse and its serving layer in {home} …", flush=True)
        subprocess.run(
            [sys.executable, "-c", "from bench.load import prepare_demo; prepare_demo()"],
            cwd=ROOT, env={**os.environ, "LOOPLENS_HOME": str(home), **env}, check=True,
            timeout=args.deadline,
        )  # fmt: skip
        result["prepare_s"] = time.perf_counter() - t0
    server = Server(home, env)
    try:
        server.start()
        result["memory_at_start_mb"] = server.memory_mb()
        print(f"server {server.base} (pid {server.proc.pid}), log {server.log_path}", flush=True)
        asyncio.run(asyncio.wait_for(_drive(args, server, result), timeout=args.deadline))
        result["memory_final_mb"] = server.memory_mb()
        result["server_cpu_total_s"] = server.cpu_seconds()
    finally:
        server.stop()
        if not (args.keep_home or args.home):
            import shutil

            shutil.rmtree(home, ignore_errors=True)
    result["loadavg_after"] = os.getloadavg()
    print(render(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
        print(f"\nwrote {args.json}")
    return 0 if all(b["summary"]["errors"] == 0 for b in result.get("concurrent", [])) else 1
