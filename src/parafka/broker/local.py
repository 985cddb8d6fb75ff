"""A single-node Apache Kafka broker (KRaft, broker + controller) for development and tests.

State lives under ``<home>/brokers/<name>/``: ``broker.json`` (pid, ports, version), the data
directory (fresh at every start) and the logs. ``<home>`` is ``$PARAFKA_HOME``, else
``$XDG_CACHE_HOME/parafka``, else ``~/.cache/parafka``; the jars are cached there too.

Start and stop of one name hold a file lock, so concurrent commands do not race. The broker runs
in its own session and is not a child of the command that started it (a shell in between exits
at once), so it outlives that command and nothing has to reap it.

Hardening, since the directory holds a private key and the tools see passwords:

- the broker directories are created mode 0700 (a symlink in their place is refused) and every
  file parafka writes there is created afresh with ``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0600,
  so a planted link cannot redirect a write;
- SCRAM passwords reach ``kafka-storage format`` through a Java argument file (``java @file``,
  mode 0600, deleted after the format), never through a command line that ``ps`` shows;
- a free port that another process takes between choosing it and the broker binding it makes the
  broker exit with "failed to bind": the start is retried with new free ports (bounded);
- the broker is ready when the metadata answered on its port carry the cluster id it was just
  formatted with (a fresh random one per start), so another Kafka on that port is an error.
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

from parafka.broker.jars import check_kafka_version, file_lock, resolve_jars
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
#: Starts tried when a port chosen free is taken before the broker binds it.
PORT_ATTEMPTS = 3
_BIND_FAILURE_RE = re.compile(r"failed to bind to [^\s:]+:(\d+)")
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
    #: The cluster id the data directory was formatted with (random at every start).
    cluster_id: str | None = None

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

        Ports left out are chosen free; if another process takes one of them before the broker
        binds it, the start is tried again with new ports (up to :data:`PORT_ATTEMPTS` times).

        Raises :class:`BrokerAlreadyRunning` if this name already runs, and another
        :class:`BrokerError` naming the cause when an option (``kafka_version`` must be a
        release such as ``4.1.1``, 4.1 or newer), Java, Maven, a port or the broker fails.
        """
        kafka_version = check_kafka_version(kafka_version)
        users = check_users(scram_users)
        if sasl_port is not None and not users:
            raise BrokerError("a SASL port was given but no SCRAM user: add at least one user")
        if ssl_port is not None and ssl is None:
            raise BrokerError("an SSL port was given but no SSL certificate and key")
        if ssl is not None and not isinstance(ssl, SslCertificate):
            raise BrokerError(f"ssl must be an SslCertificate(certificate, key), got {ssl!r}")
        keystore_pem = ssl.keystore_pem() if ssl is not None else None
        wanted = {
            "broker": port,
            "controller": controller_port,
            **({"SASL": sasl_port} if users else {}),
            **({"SSL": ssl_port} if keystore_pem is not None else {}),
        }
        private_directory(self._lock_file.parent)
        with file_lock(self._lock_file):
            running = self.status()
            if running is not None:
                raise BrokerAlreadyRunning(self.name, running.bootstrap, running.pid)
            java = find_java()
            lib = resolve_jars(self.home, kafka_version)
            for attempt in range(1, PORT_ATTEMPTS + 1):
                ports = _ports(wanted)
                chosen = {ports[what] for what, asked in wanted.items() if asked is None}
                try:
                    return self._start_once(
                        java.executable,
                        lib,
                        kafka_version,
                        ports,
                        overrides or {},
                        keystore_pem,
                        users,
                        timeout,
                    )
                except _PortTaken as exc:
                    if exc.port not in chosen or attempt == PORT_ATTEMPTS:
                        raise
            raise AssertionError("unreachable: the last attempt returns or raises")

    def _start_once(
        self,
        java: str,
        lib: Path,
        kafka_version: str,
        ports: Mapping[str, int],
        overrides: Mapping[str, str],
        keystore_pem: str | None,
        users: tuple[ScramUser, ...],
        timeout: float,
    ) -> BrokerInfo:
        """Prepare, format, launch and wait for the broker on these ports (one attempt)."""
        self._prepare(ports, overrides, keystore_pem)
        cluster_id = self._format(java, lib, users)
        pid = self._launch(java, lib)
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
            cluster_id=cluster_id,
        )
        self._record_and_wait(info, timeout)
        return info

    def _record_and_wait(self, info: BrokerInfo, timeout: float) -> None:
        """Write the state file of a launched broker and wait until it answers; if it does
        not, stop it and forget it (the error is re-raised)."""
        write_private(self._state_file, json.dumps(asdict(info), indent=2))
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
        private_directory(self.directory)
        for stale in (data_dir, logs_dir):
            if stale.is_symlink():
                stale.unlink()
            elif stale.exists():
                shutil.rmtree(stale)
        private_directory(data_dir)
        private_directory(logs_dir)
        if keystore_pem is not None:
            write_private(keystore, keystore_pem)  # the private key
        else:
            keystore.unlink(missing_ok=True)
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
        write_private(self.directory / "server.properties", "\n".join(lines) + "\n")
        write_private(self.directory / "log4j2.properties", _LOG4J2)

    def _java_command(self, java: str, lib: Path, *args: str) -> list[str]:
        """``java <options> -cp lib/* <args>``; an ``@file`` in ``args`` is a Java argument
        file (the launcher reads the main class and its arguments from it)."""
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

    def _format(self, java: str, lib: Path, users: tuple[ScramUser, ...]) -> str:
        """Format a fresh data directory with a new random cluster id (returned), seeding the
        SCRAM users' credentials.

        The passwords go into a Java argument file (mode 0600, deleted afterwards), so the
        storage tool's command line names that file and no password.
        """
        tool = "kafka.tools.StorageTool"
        config = str(self.directory / "server.properties")
        cluster_id = self._run_tool(java, lib, [tool, "random-uuid"], "random-uuid").split()[-1]
        if not _CLUSTER_ID_RE.fullmatch(cluster_id):
            raise BrokerStartFailed(
                f"StorageTool random-uuid printed no cluster id: {cluster_id!r:.80}"
            )
        scram = [arg for user in users for arg in ("--add-scram", user.storage_argument())]
        arguments = [tool, "format", "-t", cluster_id, "-c", config, *scram]
        argfile = self.directory / "format.args"
        write_private(argfile, "".join(java_argfile_line(arg) for arg in arguments))
        try:
            self._run_tool(
                java,
                lib,
                [f"@{argfile}"],
                "StorageTool format",
                secrets=[user.password for user in users],
            )
        finally:
            argfile.unlink(missing_ok=True)
        return cluster_id

    def _run_tool(
        self, java: str, lib: Path, args: list[str], what: str, secrets: Iterable[str] = ()
    ) -> str:
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
                f"{what} failed (exit {completed.returncode}):\n" + "\n".join(tail)
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
                message = (
                    f"the Kafka broker {self.name!r} exited while starting.\n"
                    f"{self.failure_report()}"
                )
                taken = self._port_it_could_not_bind()
                if taken is not None:
                    raise _PortTaken(message, taken)
                raise BrokerStartFailed(message)
            secured = [
                int(address.rsplit(":", 1)[1])
                for address in (info.sasl_bootstrap, info.ssl_bootstrap)
                if address is not None
            ]
            if accepts_connections(info.port) and all(
                accepts_connections(port) for port in secured
            ):
                answered = _cluster_id(info.bootstrap)
                if answered is not None and info.cluster_id not in (None, answered):
                    raise BrokerStartFailed(
                        f"another Kafka answers on {info.bootstrap} (cluster id {answered}), not "
                        f"the broker {self.name!r} just started (cluster id {info.cluster_id}): "
                        "stop that process or start on another --port"
                    )
                if answered is not None:
                    return
            time.sleep(0.2)
        raise BrokerStartFailed(
            f"the Kafka broker {self.name!r} did not accept clients on {info.bootstrap} within "
            f"{timeout:.0f} s.\n{self.failure_report()}"
        )

    def _port_it_could_not_bind(self) -> int | None:
        """The port named by the broker's "failed to bind" error, if it logged one."""
        try:
            console = self._console_log.read_text(errors="replace")
        except OSError:
            return None
        match = _BIND_FAILURE_RE.search(console)
        return int(match[1]) if match else None

    def restart(self, previous: BrokerInfo, timeout: float = DEFAULT_START_TIMEOUT) -> BrokerInfo:
        """Start again a broker that was stopped by a signal (for fault injection): the same
        ports and the same data directory, not formatted again. ``previous`` is what
        :meth:`start` returned; the broker must not be running (its record may be gone)."""
        with file_lock(self._lock_file):
            running = self.status()
            if running is not None:
                raise BrokerAlreadyRunning(self.name, running.bootstrap, running.pid)
            meta = self.directory / "data" / "meta.properties"
            if not meta.is_file():
                raise BrokerError(f"the broker {self.name!r} has no data directory to restart")
            java = find_java()
            lib = resolve_jars(self.home, check_kafka_version(previous.kafka_version))
            # Kafka binds with SO_REUSEADDR, so the ports' TIME_WAIT sockets do not stop it.
            pid = self._launch(java.executable, lib)
            cluster_id = _formatted_cluster_id(meta) or previous.cluster_id
            info = replace(previous, pid=pid, started_at=time.time(), cluster_id=cluster_id)
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


class _PortTaken(BrokerStartFailed):
    """The broker exited because ``port`` was already bound when it tried to listen."""

    def __init__(self, message: str, port: int) -> None:
        super().__init__(message)
        self.port = port


_CLUSTER_ID_RE = re.compile(r"[A-Za-z0-9_-]{22}")


def private_directory(path: Path) -> None:
    """Create ``path`` (and missing parents) and make it mode 0700; refuse a symlink."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise BrokerError(f"{path} must be a directory, not a symbolic link or a file")
    os.chmod(path, 0o700)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file ``path``, mode 0600: whatever was at ``path`` (a file or a
    symbolic link) is removed first and the file is created with ``O_EXCL | O_NOFOLLOW``, so
    the write never goes through a link."""
    path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def java_argfile_line(argument: str) -> str:
    """``argument`` as one line of a Java launcher argument file: double-quoted, with ``\\``
    and ``"`` escaped (the launcher unescapes both inside quotes)."""
    if "\n" in argument or "\r" in argument:
        raise BrokerError("an argument of a Java argument file cannot contain a line break")
    escaped = argument.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"\n'


def _formatted_cluster_id(meta: Path) -> str | None:
    """The ``cluster.id`` of a formatted data directory's ``meta.properties``."""
    try:
        for line in meta.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "cluster.id":
                return value.strip()
    except OSError:
        return None
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


def _cluster_id(bootstrap: str) -> str | None:
    """The cluster id in the metadata that ``bootstrap`` answers, or None if it does not
    answer (yet) with at least one broker."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=2.0)
    except Exception:  # any failure means "not ready yet"
        return None
    if not metadata.brokers:
        return None
    return str(metadata.cluster_id) if metadata.cluster_id else None
