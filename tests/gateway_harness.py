"""Start and control the mock Wechaty gateway in ``tests/gateway/server.mjs``.

The gateway is a Node process that serves wechaty-puppet-mock over the real
puppet-service gRPC protocol on 127.0.0.1, so python-wechaty connects to it
exactly as it connects to a production gateway. The harness does not install
the Node packages; run ``npm ci --ignore-scripts --prefix tests/gateway`` once.

Typical use::

    with GatewayHarness() as gateway:
        options = PuppetOptions(token=gateway.token, end_point=gateway.endpoint)
        ...
        gateway.say("alice", "签到", room=ROOM_ID)
        assert gateway.sent()[-1]["text"] == "..."
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

GATEWAY_DIR = Path(__file__).resolve().parent / "gateway"
SERVER_SCRIPT = GATEWAY_DIR / "server.mjs"
INSTALL_COMMAND = "npm ci --ignore-scripts --prefix tests/gateway"
# Exit code of server.mjs when it cannot bind its port.
EXIT_PORT_IN_USE = 3

SELF_ID = "repe_bot_self"
SELF_NAME = "活动助手"
ROOM_ID = "room_run@chatroom"
ROOM_TOPIC = "周末跑团"
CONTACTS = {"alice": "小红", "bob": "小明", "carol": "小刚"}

# Contact ids must not contain "@" and room ids must, because wechaty-puppet-mock
# routes a conversation id to a room or a contact by that character.
DEFAULT_SCENARIO: dict[str, Any] = {
    "self": {"id": SELF_ID, "name": SELF_NAME},
    "contacts": [{"id": contact_id, "name": name} for contact_id, name in CONTACTS.items()],
    "rooms": [{"id": ROOM_ID, "topic": ROOM_TOPIC, "members": ["alice", "bob"], "owner": "alice"}],
}


class GatewayError(RuntimeError):
    """The gateway process failed to start, exited, or rejected a command."""


class GatewayNotInstalledError(GatewayError):
    """The Node packages of the gateway are not installed."""


def node_available() -> bool:
    """Return whether a ``node`` executable is on PATH."""
    return shutil.which("node") is not None


def free_loopback_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free when checked.

    NOTE: another process may take the port before the caller binds it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, timeout: float = 0.5) -> bool:
    """Return whether a TCP connection to 127.0.0.1:port succeeds."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


class GatewayHarness:
    """A running mock gateway: its endpoint, token, control commands and sent messages.

    Use it as a context manager (sync or async), or call :meth:`start` and
    :meth:`stop`. :meth:`stop` always ends the Node process, and the process
    also exits on its own when its stdin closes, which happens when this Python
    process dies.
    """

    def __init__(
        self,
        scenario: dict[str, Any] | None = None,
        *,
        tls: bool = False,
        token: str | None = None,
        startup_timeout: float = 20.0,
        command_timeout: float = 10.0,
    ) -> None:
        self.scenario = scenario if scenario is not None else DEFAULT_SCENARIO
        self.tls = tls
        self.token = token or f"repe-test-{secrets.token_hex(8)}"
        self.startup_timeout = startup_timeout
        self.command_timeout = command_timeout
        self.port = 0

        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[str] | None = None
        self._stderr_file: IO[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None
        self._command_lock = threading.Lock()
        self._next_seq = 1

    # ------------------------------------------------------------ properties

    @property
    def endpoint(self) -> str:
        """The ``host:port`` string for ``PuppetOptions.end_point``."""
        return f"127.0.0.1:{self.port}"

    @property
    def self_id(self) -> str:
        """The contact id the mock account logs in as."""
        return str(self.scenario["self"]["id"])

    @property
    def record_path(self) -> Path:
        return self._workdir_path() / "sent.jsonl"

    @property
    def stderr_path(self) -> Path:
        return self._workdir_path() / "stderr.log"

    def _workdir_path(self) -> Path:
        if self._workdir is None:
            raise GatewayError("the gateway has not been started")
        return Path(self._workdir.name)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> GatewayHarness:
        """Start the Node gateway and wait until its gRPC port accepts connections.

        Raises GatewayNotInstalledError when node or the npm packages are missing,
        and GatewayError when the process fails to start within startup_timeout.
        """
        if self._process is not None:
            raise GatewayError("the gateway is already running")
        node = shutil.which("node")
        if node is None:
            raise GatewayNotInstalledError("node is not on PATH; install Node.js 20 or later")
        if not (GATEWAY_DIR / "node_modules" / "wechaty-puppet-service").is_dir():
            raise GatewayNotInstalledError(
                f"the gateway's npm packages are missing in {GATEWAY_DIR / 'node_modules'}; "
                f"run `{INSTALL_COMMAND}` from the repository root"
            )

        self._workdir = tempfile.TemporaryDirectory(prefix="repe-gateway-")
        scenario_path = self._workdir_path() / "scenario.json"
        scenario_path.write_text(json.dumps(self.scenario, ensure_ascii=False), encoding="utf-8")

        # A port picked as free can be taken before node binds it, so a bind
        # failure is retried on a new port. Any other failure is raised at once.
        attempts = 3
        for attempt in range(1, attempts + 1):
            self.port = free_loopback_port()
            try:
                self._spawn(node, scenario_path)
                return self
            except GatewayError:
                port_in_use = self._process is not None and self._process.returncode == EXIT_PORT_IN_USE
                if self._process is not None:
                    _kill(self._process)
                self._terminate()
                if attempt == attempts or not port_in_use:
                    self._cleanup_files()
                    raise
        raise AssertionError("unreachable")

    def _spawn(self, node: str, scenario_path: Path) -> None:
        command = [
            node,
            "--no-deprecation",
            str(SERVER_SCRIPT),
            "--port",
            str(self.port),
            "--token",
            self.token,
            "--scenario",
            str(scenario_path),
            "--record",
            str(self.record_path),
        ]
        if self.tls:
            command.append("--tls")

        environment = dict(os.environ)
        # An explicit --tls flag decides, so a stray variable cannot change the mode.
        environment.pop("WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER", None)

        self._stderr_file = open(self.stderr_path, "w", encoding="utf-8")  # noqa: SIM115
        self._replies = queue.Queue()
        self._ready = threading.Event()
        self._process = subprocess.Popen(
            command,
            cwd=GATEWAY_DIR,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        # Kill the process if the harness object is garbage-collected without stop().
        weakref.finalize(self, _kill, self._process)
        self._reader = threading.Thread(target=self._read_stdout, args=(self._process,), daemon=True)
        self._reader.start()

        deadline = time.monotonic() + self.startup_timeout
        while not self._ready.wait(timeout=0.05):
            if self._process.poll() is not None:
                raise GatewayError(
                    f"the gateway exited with code {self._process.returncode} before it was ready: "
                    f"{self.stderr_tail()}"
                )
            if time.monotonic() > deadline:
                raise GatewayError(
                    f"the gateway was not ready within {self.startup_timeout} s: {self.stderr_tail()}"
                )
        self.wait_port_open(timeout=max(0.1, deadline - time.monotonic()))

    def _read_stdout(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            if line.startswith("READY "):
                self._ready.set()
            elif line.startswith(("ACK ", "ERR ")):
                self._replies.put(line)
            # Any other line is log output of the Node packages and is dropped.
        self._replies.put(None)

    def wait_port_open(self, timeout: float = 5.0) -> None:
        """Wait until the gateway's port accepts TCP connections, or raise GatewayError."""
        deadline = time.monotonic() + timeout
        while not port_open(self.port, timeout=0.2):
            if time.monotonic() > deadline:
                raise GatewayError(f"port {self.port} did not open within {timeout} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Ask the gateway to quit, kill it if it does not exit, and delete its files."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(GatewayError, OSError, ValueError):
                self.command("quit", timeout=5.0)
        self._terminate()
        self._cleanup_files()

    def _terminate(self) -> None:
        process = self._process
        self._process = None
        if process is not None:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill(process)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None

    def _cleanup_files(self) -> None:
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def running(self) -> bool:
        """Return whether the Node process is alive."""
        return self._process is not None and self._process.poll() is None

    def stderr_tail(self, max_chars: int = 2000) -> str:
        """Return the end of the gateway's stderr, for error messages."""
        try:
            return self.stderr_path.read_text(encoding="utf-8")[-max_chars:]
        except (OSError, GatewayError):
            return ""

    def __enter__(self) -> GatewayHarness:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> GatewayHarness:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------ commands

    def command(self, cmd: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        """Send one control command and return its ACK payload; raise GatewayError on ERR."""
        process = self._process
        if process is None or process.poll() is not None or process.stdin is None:
            raise GatewayError(f"cannot send {cmd!r}: the gateway is not running. {self.stderr_tail()}")
        wait = self.command_timeout if timeout is None else timeout

        with self._command_lock:
            seq = self._next_seq
            self._next_seq += 1
            process.stdin.write(json.dumps({"cmd": cmd, "seq": seq, **fields}, ensure_ascii=False) + "\n")
            process.stdin.flush()
            deadline = time.monotonic() + wait
            while True:
                try:
                    line = self._replies.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise GatewayError(f"no reply to {cmd!r} within {wait} s") from None
                if line is None:
                    raise GatewayError(f"the gateway exited during {cmd!r}: {self.stderr_tail()}")
                kind, _, body = line.partition(" ")
                reply: dict[str, Any] = json.loads(body)
                if reply.get("seq") != seq:
                    continue  # a late reply to an earlier command that timed out
                if kind == "ERR":
                    raise GatewayError(f"the gateway rejected {cmd!r}: {reply.get('error')}")
                return reply

    async def command_async(self, cmd: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        """Run :meth:`command` in a worker thread so that the event loop keeps running."""
        return await asyncio.to_thread(self.command, cmd, timeout, **fields)

    def say(
        self,
        sender: str,
        text: str,
        room: str | None = None,
        mentions: Sequence[str] = (),
        to: str | None = None,
    ) -> str:
        """Make contact ``sender`` send ``text`` and return the new message id.

        The message goes to ``room`` when given, else to contact ``to``, else to
        the bot account. The gateway rejects it while no client has logged in or
        while no client event stream is attached, because the message would be lost.
        """
        # "from" is a Python keyword, so the fields go in as a dict.
        fields: dict[str, Any] = {
            "from": sender,
            "room": room,
            "to": to,
            "text": text,
            "mentions": list(mentions),
        }
        reply = self.command("say", **fields)
        return str(reply["id"])

    async def say_async(
        self,
        sender: str,
        text: str,
        room: str | None = None,
        mentions: Sequence[str] = (),
        to: str | None = None,
    ) -> str:
        """Async form of :meth:`say`."""
        return await asyncio.to_thread(self.say, sender, text, room, mentions, to)

    def room_join(
        self, room: str, members: Iterable[str | dict[str, str]], inviter: str | None = None
    ) -> None:
        """Add members to ``room`` and emit a room-join event.

        A member given as ``{"id": ..., "name": ...}`` is created when it does not exist yet.
        """
        self.command("room_join", room=room, members=list(members), inviter=inviter)

    def room_leave(self, room: str, members: Iterable[str], remover: str | None = None) -> None:
        """Remove members from ``room`` and emit a room-leave event."""
        self.command("room_leave", room=room, members=list(members), remover=remover)

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the gRPC server and the puppet, keep the port closed for down_seconds, then listen again.

        Connected clients see their event stream end. The mock account logs in
        again only when a client calls start() on the gateway.
        """
        self.command("restart", timeout=self.command_timeout + down_seconds, down_ms=int(down_seconds * 1000))

    async def restart_async(self, down_seconds: float = 0.0) -> None:
        """Async form of :meth:`restart`."""
        await asyncio.to_thread(self.restart, down_seconds)

    # ------------------------------------------------------------ records

    def sent(self) -> list[dict[str, Any]]:
        """Return every messageSendText call so far, oldest first.

        Each entry has ``conversation_id``, ``text``, ``mention_ids``, ``time_ms``
        (gateway clock, ms since the epoch) and ``message_id``.
        """
        try:
            content = self.record_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in content.splitlines() if line.strip()]
