"""A single-node Apache Kafka broker (KRaft, broker + controller) for development and tests.

State lives under ``<home>/brokers/<name>/``: ``broker.json`` (pid, ports, version), the data
directory (fresh at every start) and the logs. ``<home>`` is ``$PARAFKA_HOME``, else
``$XDG_CACHE_HOME/parafka``, else ``~/.cache/parafka``; the jars are cached there too.

Start and stop of one name hold a file lock, so concurrent commands do not race. The broker runs
in its own session and is not a child of the command that started it (a shell in between exits
at once), so it outlives that command and nothing has to reap it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from parafka.broker.jars import file_lock, resolve_jars
from parafka.broker.java import find_java
from parafka.broker.ports import HOST, accepts_connections, free_ports, require_free
from parafka.broker.security import (
    SCRAM_MECHANISM,
    ScramUser,
    SslCertificate,
    check_users,
    listener_properties,
)
from parafka.errors import BrokerAlreadyRunning, BrokerError, BrokerStartFailed

#: The Kafka version parafka develops and tests against (4.1 or newer is required).
DEFAULT_KAFKA_VERSION = "4.1.1"
DEFAULT_START_TIMEOUT = 120.0
DEFAULT_STOP_TIMEOUT = 30.0
_KILL_WAIT = 10.0
_ERROR_RE = re.compile(r"\b(ERROR|FATAL)\b|Exception\b|^Error:")

_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
appender.err.filter.threshold.type = ThresholdFilter
appender.err.filter.threshold.level = warn
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
rootLogger.appenderRef.err.ref = STDERR
"""


def parafka_home(env: Mapping[str, str] | None = None) -> Path:
    """The directory that holds parafka's broker jars and local broker state."""
    env = os.environ if env is None else env
    if env.get("PARAFKA_HOME"):
        return Path(env["PARAFKA_HOME"])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "parafka"
    return Path.home() / ".cache" / "parafka"


def server_properties(
    *,
    port: int,
    controller_port: int,
    data_dir: Path,
    overrides: Mapping[str, str],
    sasl_port: int | None = None,
    ssl_port: int | None = None,
    keystore: Path | None = None,
) -> dict[str, str]:
    """The broker's settings: single node, loopback only, replication factor 1.

    ``sasl_port`` adds a SASL_PLAINTEXT (SCRAM-SHA-512) listener, ``ssl_port`` an SSL one
    (``keystore``: a PEM file with the private key and certificate chain); brokers and the
    controller keep talking over PLAINTEXT.
    """
    extra, secured = listener_properties(
        host=HOST, sasl_port=sasl_port, ssl_port=ssl_port, keystore=keystore
    )
    client_listeners = ",".join([f"PLAINTEXT://{HOST}:{port}", *extra])
    protocols = ",".join(
        ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
        + [f"{name}:{name}" for name in (e.split("://", 1)[0] for e in extra)]
    )
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"{client_listeners},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": client_listeners,
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": protocols,
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Compaction within seconds of a segment roll (tests and demos of compacted topics).
        "log.cleaner.backoff.ms": "1000",
        **secured,
    }
    properties.update(overrides)
    return properties


@dataclass(frozen=True)
class BrokerInfo:
    """A running (or recorded) local broker."""

    name: str
    pid: int
    bootstrap: str
    port: int
    controller_port: int
    kafka_version: str
    directory: str
    started_at: float
    #: ``host:port`` of the SASL_PLAINTEXT (SCRAM-SHA-512) listener, if opened.
    sasl_bootstrap: str | None = None
    #: ``host:port`` of the SSL listener, if opened.
    ssl_bootstrap: str | None = None
    #: Names of the SCRAM users seeded at start (never their passwords).
    scram_users: tuple[str, ...] = ()

    @property
    def sasl_mechanism(self) -> str | None:
        """The SASL mechanism of the SASL_PLAINTEXT listener, if opened."""
        return SCRAM_MECHANISM if self.sasl_bootstrap else None


class LocalBroker:
    """One named local broker: ``start()``, ``stop()``, ``status()``.

    Every method may be called from any thread or process; start and stop of one name are
    serialized by a file lock.
    """

    def __init__(self, name: str = "default", home: Path | None = None) -> None:
        if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
            raise BrokerError(f"broker name {name!r} must be letters, digits, '-', '_' or '.'")
        self.name = name
        self.home = parafka_home() if home is None else home
        self.directory = self.home / "brokers" / name
        self._state_file = self.directory / "broker.json"
        self._lock_file = self.home / "brokers" / f"{name}.lock"

    def __repr__(self) -> str:
        return f"LocalBroker(name={self.name!r}, home={str(self.home)!r})"

    # -- queries -----------------------------------------------------------------------------

    def status(self) -> BrokerInfo | None:
        """The running broker of this name, or None (a stale record is removed)."""
        info = self._read_state()
        if info is None:
            return None
        if _is_our_broker(info.pid, self.directory):
            return info
        self._state_file.unlink(missing_ok=True)
        return None

    @classmethod
    def all(cls, home: Path | None = None) -> list[BrokerInfo]:
        """Every running broker under ``home``."""
        home = parafka_home() if home is None else home
        found = []
        for state in sorted((home / "brokers").glob("*/broker.json")):
            info = cls(state.parent.name, home).status()
            if info is not None:
                found.append(info)
        return found

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the broker's console output and server log."""
        parts = []
        for log in (self._console_log, self.directory / "logs" / "server.log"):
            if log.is_file():
                tail = log.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {log} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(parts) if parts else f"(no log in {self.directory / 'logs'})"

    def failure_report(self) -> str:
        """The first errors the broker printed and the end of its console, without stack frames."""
        if not self._console_log.is_file():
            return f"(no console log in {self._console_log.parent})"
        lines = [
            line
            for line in self._console_log.read_text(errors="replace").splitlines()
            if line.strip() and not line.startswith(("\tat ", "\t... "))
        ]
        errors = [line for line in lines if _ERROR_RE.search(line)][:8]
        return "\n".join(
            ["first errors:", *errors, f"last lines of {self._console_log}:", *lines[-12:]]
        )

    @property
    def _console_log(self) -> Path:
        return self.directory / "logs" / "stdout.log"

    # -- start -------------------------------------------------------------------------------

    def start(
        self,
        *,
        kafka_version: str = DEFAULT_KAFKA_VERSION,
        port: int | None = None,
        controller_port: int | None = None,
        overrides: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_START_TIMEOUT,
        scram_users: Iterable[ScramUser] = (),
        sasl_port: int | None = None,
        ssl: SslCertificate | None = None,
        ssl_port: int | None = None,
    ) -> BrokerInfo:
        """Start the broker and return once it answers metadata requests.

        Besides the PLAINTEXT listener: ``scram_users`` opens a SASL_PLAINTEXT listener where
        those SCRAM-SHA-512 users log in (on ``sasl_port``, else a free port); ``ssl`` opens an
        SSL listener with that certificate (on ``ssl_port``, else a free port).

        Raises :class:`BrokerAlreadyRunning` if this name already runs, and another
        :class:`BrokerError` naming the cause when an option, Java, Maven, a port or the broker
        fails.
        """
        users = check_users(scram_users)
        if sasl_port is not None and not users:
            raise BrokerError("a SASL port was given but no SCRAM user: add at least one user")
        if ssl_port is not None and ssl is None:
            raise BrokerError("an SSL port was given but no SSL certificate and key")
        if ssl is not None and not isinstance(ssl, SslCertificate):
            raise BrokerError(f"ssl must be an SslCertificate(certificate, key), got {ssl!r}")
        keystore_pem = ssl.keystore_pem() if ssl is not None else None
        with file_lock(self._lock_file):
            running = self.status()
            if running is not None:
                raise BrokerAlreadyRunning(self.name, running.bootstrap, running.pid)
            java = find_java()
            lib = resolve_jars(self.home, kafka_version)
            ports = _ports(
                {
                    "broker": port,
                    "controller": controller_port,
                    **({"SASL": sasl_port} if users else {}),
                    **({"SSL": ssl_port} if keystore_pem is not None else {}),
                }
            )
            self._prepare(ports, overrides or {}, keystore_pem)
            self._format(java.executable, lib, users)
            pid = self._launch(java.executable, lib)
            info = BrokerInfo(
                name=self.name,
                pid=pid,
                bootstrap=f"{HOST}:{ports['broker']}",
                port=ports["broker"],
                controller_port=ports["controller"],
                kafka_version=kafka_version,
                directory=str(self.directory),
                started_at=time.time(),
                sasl_bootstrap=f"{HOST}:{ports['SASL']}" if "SASL" in ports else None,
                ssl_bootstrap=f"{HOST}:{ports['SSL']}" if "SSL" in ports else None,
                scram_users=tuple(user.name for user in users),
            )
            self._record_and_wait(info, timeout)
            return info

    def _record_and_wait(self, info: BrokerInfo, timeout: float) -> None:
        """Write the state file of a launched broker and wait until it answers; if it does
        not, stop it and forget it (the error is re-raised)."""
        self._state_file.write_text(json.dumps(asdict(info), indent=2))
        try:
            self._wait_ready(info, timeout)
        except BaseException:
            self._terminate(info.pid, DEFAULT_STOP_TIMEOUT)
            self._state_file.unlink(missing_ok=True)
            raise

    def _prepare(
        self, ports: Mapping[str, int], overrides: Mapping[str, str], keystore_pem: str | None
    ) -> None:
        data_dir = self.directory / "data"
        logs_dir = self.directory / "logs"
        keystore = self.directory / "keystore.pem"
        for stale in (data_dir, logs_dir):
            if stale.exists():
                shutil.rmtree(stale)
        keystore.unlink(missing_ok=True)
        data_dir.mkdir(parents=True)
        logs_dir.mkdir(parents=True)
        if keystore_pem is not None:
            # The private key: readable by this user only.
            fd = os.open(keystore, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(keystore_pem)
        properties = server_properties(
            port=ports["broker"],
            controller_port=ports["controller"],
            data_dir=data_dir,
            overrides=overrides,
            sasl_port=ports.get("SASL"),
            ssl_port=ports.get("SSL"),
            keystore=keystore if keystore_pem is not None else None,
        )
        lines = [f"{key}={value}" for key, value in properties.items()]
        (self.directory / "server.properties").write_text("\n".join(lines) + "\n")
        (self.directory / "log4j2.properties").write_text(_LOG4J2)

    def _java_command(self, java: str, lib: Path, *args: str) -> list[str]:
        return [
            java,
            "-Xms256m",
            "-Xmx1g",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.directory / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.directory / 'logs'}",
            "-cp",
            f"{lib}/*",
            *args,
        ]

    def _format(self, java: str, lib: Path, users: tuple[ScramUser, ...]) -> None:
        """Format a fresh data directory, seeding the SCRAM users' credentials."""
        config = str(self.directory / "server.properties")
        cluster_id = self._run_tool(java, lib, "kafka.tools.StorageTool", "random-uuid").split()[-1]
        scram = [arg for user in users for arg in ("--add-scram", user.storage_argument())]
        self._run_tool(
            java,
            lib,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            config,
            *scram,
            secrets=[user.password for user in users],
        )

    def _run_tool(self, java: str, lib: Path, *args: str, secrets: Iterable[str] = ()) -> str:
        command = self._java_command(java, lib, *args)
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False
        )
        if completed.returncode != 0:
            output = (completed.stdout + completed.stderr).strip()
            for secret in secrets:
                output = output.replace(secret, "***")
            tail = output.splitlines()[-20:]
            raise BrokerStartFailed(
                f"{args[0]} {args[1]} failed (exit {completed.returncode}):\n" + "\n".join(tail)
            )
        return completed.stdout

    def _launch(self, java: str, lib: Path) -> int:
        """Start the broker detached (``sh`` backgrounds it and exits) and return its pid."""
        command = self._java_command(
            java, lib, "kafka.Kafka", str(self.directory / "server.properties")
        )
        script = 'log="$1"; shift; "$@" >>"$log" 2>&1 </dev/null & echo $!'
        launcher = subprocess.run(
            ["sh", "-c", script, "sh", str(self._console_log), *command],
            capture_output=True,
            text=True,
            start_new_session=True,
            cwd=self.directory,
            timeout=30,
            check=False,
        )
        try:
            return int(launcher.stdout.strip())
        except ValueError as exc:
            raise BrokerStartFailed(
                f"could not launch the broker: {launcher.stdout} {launcher.stderr}".strip()
            ) from exc

    def _wait_ready(self, info: BrokerInfo, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(info.pid):
                raise BrokerStartFailed(
                    f"the Kafka broker {self.name!r} exited while starting.\n"
                    f"{self.failure_report()}"
                )
            secured = [
                int(address.rsplit(":", 1)[1])
                for address in (info.sasl_bootstrap, info.ssl_bootstrap)
                if address is not None
            ]
            if (
                accepts_connections(info.port)
                and all(accepts_connections(port) for port in secured)
                and _answers_metadata(info.bootstrap)
            ):
                return
            time.sleep(0.2)
        raise BrokerStartFailed(
            f"the Kafka broker {self.name!r} did not accept clients on {info.bootstrap} within "
            f"{timeout:.0f} s.\n{self.failure_report()}"
        )

    def restart(self, previous: BrokerInfo, timeout: float = DEFAULT_START_TIMEOUT) -> BrokerInfo:
        """Start again a broker that was stopped by a signal (for fault injection): the same
        ports and the same data directory, not formatted again. ``previous`` is what
        :meth:`start` returned; the broker must not be running (its record may be gone)."""
        with file_lock(self._lock_file):
            running = self.status()
            if running is not None:
                raise BrokerAlreadyRunning(self.name, running.bootstrap, running.pid)
            if not (self.directory / "data" / "meta.properties").is_file():
                raise BrokerError(f"the broker {self.name!r} has no data directory to restart")
            java = find_java()
            lib = resolve_jars(self.home, previous.kafka_version)
            # Kafka binds with SO_REUSEADDR, so the ports' TIME_WAIT sockets do not stop it.
            pid = self._launch(java.executable, lib)
            info = replace(previous, pid=pid, started_at=time.time())
            self._record_and_wait(info, timeout)
            return info

    # -- stop --------------------------------------------------------------------------------

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> BrokerInfo | None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout`` s); None if none ran."""
        with file_lock(self._lock_file):
            info = self.status()
            if info is None:
                return None
            self._terminate(info.pid, timeout)
            self._state_file.unlink(missing_ok=True)
            shutil.rmtree(self.directory / "data", ignore_errors=True)
            (self.directory / "keystore.pem").unlink(missing_ok=True)  # a private key
            return info

    def remove(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop the broker if it runs and delete its directory, logs and lock file."""
        self.stop(timeout)
        shutil.rmtree(self.directory, ignore_errors=True)
        self._lock_file.unlink(missing_ok=True)

    def _terminate(self, pid: int, timeout: float) -> None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, _KILL_WAIT)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not _alive(pid):
                    return
                time.sleep(0.1)
        raise BrokerError(f"the Kafka broker {self.name!r} (pid {pid}) survived SIGKILL")

    def _read_state(self) -> BrokerInfo | None:
        try:
            raw = json.loads(self._state_file.read_text())
            raw["scram_users"] = tuple(raw.get("scram_users", ()))
            return BrokerInfo(**raw)
        except (OSError, ValueError, TypeError):
            return None


def _ports(wanted: Mapping[str, int | None]) -> dict[str, int]:
    """Each listener's port: the one asked for (checked free and distinct) or a free one."""
    given = {what: port for what, port in wanted.items() if port is not None}
    for what, port in given.items():
        require_free(port, what)
    owners: dict[int, str] = {}
    for what, port in given.items():
        if port in owners:
            raise BrokerError(f"the {owners[port]} and {what} ports must differ (both are {port})")
        owners[port] = what
    picked = iter(p for p in free_ports(len(wanted) + len(given)) if p not in owners)
    return {what: port if port is not None else next(picked) for what, port in wanted.items()}


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (reaping it first if it is our exited child)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def _is_our_broker(pid: int, directory: Path) -> bool:
    """True when ``pid`` is alive and is the broker started from ``directory``."""
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline and str(directory / "server.properties").encode() in cmdline


def _answers_metadata(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=2.0)
    except Exception:  # any failure means "not ready yet"
        return False
    return bool(metadata.brokers)
