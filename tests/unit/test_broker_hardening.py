"""The local broker's hardening, without a broker: Maven's command line, the Kafka version,
SCRAM passwords off command lines, private directories and files, the port race, and a foreign
Kafka answering on the broker's port."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from parafka.broker import LocalBroker, ScramUser
from parafka.broker import local as local_module
from parafka.broker.jars import DEPENDENCY_PLUGIN, check_kafka_version, resolve_jars
from parafka.broker.java import Java
from parafka.broker.local import (
    PORT_ATTEMPTS,
    BrokerInfo,
    java_argfile_line,
    private_directory,
    write_private,
)
from parafka.cli import broker as broker_cli
from parafka.cli import main
from parafka.errors import BrokerError, BrokerStartFailed

CLUSTER_ID = "MkU3OEVBNTcwNTJENDM2Qg"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- Maven --------------------------------------------------------------------------------------


def test_maven_runs_the_pinned_plugin_with_strict_checksums(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    mvn = tmp_path / "mvn"
    # A stand-in for Maven: records its arguments, "copies" a log4j-core jar.
    mvn.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" >> "{calls}"; echo --- >> "{calls}"\n'
        'for arg in "$@"; do case "$arg" in -DoutputDirectory=*) '
        'touch "${arg#-DoutputDirectory=}/log4j-core-2.24.3.jar";; esac; done\n'
    )
    mvn.chmod(0o755)
    lib = resolve_jars(tmp_path / "cache", "4.1.1", mvn=str(mvn))
    assert (lib.parent / ".complete").read_text() == "kafka 4.1.1, log4j 2.24.3\n"
    runs = [run.strip().splitlines() for run in calls.read_text().split("---") if run.strip()]
    assert len(runs) == 2  # the broker, then its slf4j binding
    for argv in runs:
        assert "--strict-checksums" in argv
        assert f"{DEPENDENCY_PLUGIN}:copy-dependencies" in argv
        assert "dependency:copy-dependencies" not in argv
    assert DEPENDENCY_PLUGIN.rsplit(":", 1)[1].startswith("3.")


# -- the Kafka version ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["4.1.1", "4.1.0", "4.2.0", "4.10.3", "5.0.0"])
def test_a_kafka_release_of_4_1_or_newer_is_accepted(version: str) -> None:
    assert check_kafka_version(version) == version


@pytest.mark.parametrize(
    "version",
    ["4.1", "4.1.1.1", "4.1.1-rc1", " 4.1.1", "04.1.1", "../4.1.1", "4.1.1;id", "$(id)", "", "4"],
)
def test_a_malformed_kafka_version_is_refused(version: str) -> None:
    with pytest.raises(BrokerError, match=r"is not a release number such as 4\.1\.1"):
        check_kafka_version(version)


@pytest.mark.parametrize("version", ["4.0.0", "3.9.1", "2.8.2"])
def test_a_kafka_older_than_4_1_is_refused(version: str) -> None:
    with pytest.raises(BrokerError, match=f"Kafka {version} is too old: .* needs Kafka 4.1\\+"):
        check_kafka_version(version)


def test_a_bad_version_fails_before_any_file_or_maven(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="not a release number"):
        resolve_jars(tmp_path / "cache", "../../etc", mvn="/nonexistent/mvn")
    with pytest.raises(BrokerError, match="not a release number"):
        LocalBroker("v", tmp_path).start(kafka_version="4.1.1 -Dx=y")
    assert list(tmp_path.iterdir()) == []
    result = CliRunner().invoke(
        main,
        ["broker", "start", "--name", "v", "--kafka-version", "3.9.0"],
        env={"PARAFKA_HOME": str(tmp_path)},
    )
    assert result.exit_code == 2
    assert "Kafka 3.9.0 is too old" in result.stderr
    assert list(tmp_path.iterdir()) == []


# -- SCRAM passwords off command lines ----------------------------------------------------------


def test_argfile_lines_quote_and_escape() -> None:
    assert java_argfile_line('a "b" c\\d') == '"a \\"b\\" c\\\\d"\n'
    with pytest.raises(BrokerError, match="line break"):
        java_argfile_line("a\nb")


def test_format_passes_the_passwords_in_a_private_argfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = LocalBroker("scram", tmp_path)
    private_directory(broker.directory)
    commands: list[list[str]] = []
    argfiles: dict[str, tuple[int, str]] = {}

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        for arg in command:
            if arg.startswith("@"):
                argfiles[arg] = (mode(Path(arg[1:])), Path(arg[1:]).read_text())
        out = CLUSTER_ID + "\n" if "random-uuid" in command else "Formatting\n"
        return subprocess.CompletedProcess(command, 0, out, "")

    monkeypatch.setattr(local_module.subprocess, "run", fake_run)
    users = (ScramUser("alice", "alice-pw'1"), ScramUser("bob", "bob pw 2"))
    assert broker._format("java", tmp_path / "lib", users) == CLUSTER_ID

    assert len(commands) == 2
    for command in commands:
        assert not any("pw" in arg for arg in command), command
    (argfile, (file_mode, text)), *_ = argfiles.items()
    assert commands[1][-1] == argfile
    assert file_mode == 0o600
    assert '"--add-scram"\n"SCRAM-SHA-512=[name=alice,password=\\"alice-pw\'1\\"]"' in text
    assert '"-t"\n"' + CLUSTER_ID + '"' in text
    assert text.startswith('"kafka.tools.StorageTool"\n"format"\n')
    assert not Path(argfile[1:]).exists(), "the argfile is deleted after the format"


def test_a_failing_format_masks_passwords_and_deletes_the_argfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = LocalBroker("scram", tmp_path)
    private_directory(broker.directory)

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if "random-uuid" in command:
            return subprocess.CompletedProcess(command, 0, CLUSTER_ID, "")
        return subprocess.CompletedProcess(command, 1, "", "bad value hunter2x here")

    monkeypatch.setattr(local_module.subprocess, "run", fake_run)
    with pytest.raises(BrokerStartFailed, match=r"StorageTool format failed") as caught:
        broker._format("java", tmp_path / "lib", (ScramUser("alice", "hunter2x"),))
    assert "hunter2x" not in str(caught.value)
    assert not (broker.directory / "format.args").exists()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Calls of LocalBroker.start made by the CLI (which then fails with a BrokerError)."""
    calls: list[dict[str, Any]] = []

    def fake_start(self: LocalBroker, **kwargs: Any) -> BrokerInfo:
        calls.append(kwargs)
        raise BrokerError("stopped here by the test")

    monkeypatch.setattr(LocalBroker, "start", fake_start)
    return calls


def cli_start(tmp_path: Path, env: Mapping[str, str], *args: str, stdin: str | None = None) -> Any:
    env = {"PARAFKA_HOME": str(tmp_path), "PARAFKA_SCRAM_PASSWORD": "", **env}
    return CliRunner().invoke(main, ["broker", "start", "--name", "c", *args], env=env, input=stdin)


def passwords(calls: list[dict[str, Any]]) -> dict[str, str]:
    (call,) = calls
    return {user.name: user.password for user in call["scram_users"]}


def test_a_scram_user_takes_its_password_from_the_environment(
    tmp_path: Path, started: list[dict[str, Any]]
) -> None:
    env = {"PARAFKA_SCRAM_PASSWORD": "shared-pw", "PARAFKA_SCRAM_PASSWORD_BOB_X": "bob-pw"}
    result = cli_start(tmp_path, env, "--scram-user", "alice", "--scram-user", "bob.x")
    assert "stopped here by the test" in result.stderr
    assert passwords(started) == {"alice": "shared-pw", "bob.x": "bob-pw"}
    assert "warning" not in result.stderr


def test_a_scram_user_takes_its_password_from_a_file(
    tmp_path: Path, started: list[dict[str, Any]]
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("file-pw\nignored\n")
    secret.chmod(0o600)
    result = cli_start(tmp_path, {}, "--scram-user", "alice", "--scram-password-file", str(secret))
    assert passwords(started) == {"alice": "file-pw"}
    assert "warning" not in result.stderr
    secret.chmod(0o644)
    started.clear()
    result = cli_start(tmp_path, {}, "--scram-user", "alice", "--scram-password-file", str(secret))
    assert "is readable by others" in result.stderr


def test_a_scram_user_is_prompted_for_in_a_terminal(
    tmp_path: Path, started: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker_cli, "_interactive", lambda: True)
    result = cli_start(tmp_path, {}, "--scram-user", "alice", stdin="typed-pw\n")
    assert passwords(started) == {"alice": "typed-pw"}
    assert "typed-pw" not in result.output


def test_a_scram_user_without_a_password_is_named(
    tmp_path: Path, started: list[dict[str, Any]]
) -> None:
    result = cli_start(tmp_path, {}, "--scram-user", "alice")
    assert result.exit_code == 2
    assert "no password for SCRAM user 'alice': set $PARAFKA_SCRAM_PASSWORD_ALICE" in result.stderr
    assert started == []


def test_name_colon_password_still_works_with_a_warning(
    tmp_path: Path, started: list[dict[str, Any]]
) -> None:
    result = cli_start(tmp_path, {}, "--scram-user", "alice:inline-pw")
    assert passwords(started) == {"alice": "inline-pw"}
    assert "is on the command line, where ps shows it" in result.stderr
    assert "inline-pw" not in result.stderr


# -- private directories and files ----------------------------------------------------------------


def test_broker_directories_are_0700_and_files_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = LocalBroker("private", tmp_path)
    broker.directory.mkdir(parents=True, mode=0o755)
    broker.directory.chmod(0o755)
    broker._prepare({"broker": 1, "controller": 2, "SSL": 3}, {}, "KEY\n")
    for directory in (broker.directory, broker.directory / "data", broker.directory / "logs"):
        assert mode(directory) == 0o700, directory
    for name in ("keystore.pem", "server.properties", "log4j2.properties"):
        assert mode(broker.directory / name) == 0o600, name
    assert (broker.directory / "keystore.pem").read_text() == "KEY\n"


def test_a_planted_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    broker = LocalBroker("links", tmp_path)
    private_directory(broker.directory)
    (broker.directory / "keystore.pem").symlink_to(victim)
    (broker.directory / "logs").symlink_to(tmp_path)
    broker._prepare({"broker": 1, "controller": 2, "SSL": 3}, {}, "KEY\n")
    assert victim.read_text() == "untouched"
    assert not (broker.directory / "keystore.pem").is_symlink()
    assert not (broker.directory / "logs").is_symlink()
    assert victim.exists()


def test_write_private_never_writes_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    link = tmp_path / "link"
    link.symlink_to(victim)
    write_private(link, "secret")
    assert victim.read_text() == "untouched"
    assert not link.is_symlink()
    assert link.read_text() == "secret"
    assert mode(link) == 0o600


def test_a_symlinked_broker_directory_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "brokers").mkdir()
    (tmp_path / "brokers" / "x").symlink_to(elsewhere)
    with pytest.raises(BrokerError, match="must be a directory, not a symbolic link"):
        LocalBroker("x", tmp_path)._prepare({"broker": 1, "controller": 2}, {}, None)


# -- the port race and the broker answering -----------------------------------------------------


class FakeRuntime:
    """Stands in for Java, Maven, the storage tool and the JVM: ``launch`` writes what the broker
    would log; ``bind_failures`` says which launches fail to bind which port."""

    def __init__(self, broker: LocalBroker, monkeypatch: pytest.MonkeyPatch) -> None:
        self.broker = broker
        self.bind_failures: list[str] = []  # per launch: listener that fails, or "" for none
        self.launched: list[dict[str, int]] = []
        self.alive = False
        self.answering: str | None = CLUSTER_ID
        self.terminated: list[int] = []
        monkeypatch.setattr(local_module, "find_java", lambda: Java("java", 17))
        monkeypatch.setattr(local_module, "resolve_jars", lambda home, version: home / "lib")
        monkeypatch.setattr(LocalBroker, "_format", lambda *args: CLUSTER_ID)
        monkeypatch.setattr(LocalBroker, "_launch", lambda _self, java, lib: self.launch())
        monkeypatch.setattr(
            LocalBroker, "_terminate", lambda _s, pid, t: self.terminated.append(pid)
        )
        monkeypatch.setattr(local_module, "_alive", lambda pid: self.alive)
        monkeypatch.setattr(local_module, "accepts_connections", lambda port: True)
        monkeypatch.setattr(local_module, "_cluster_id", lambda bootstrap: self.answering)

    def launch(self) -> int:
        text = (self.broker.directory / "server.properties").read_text()
        listeners = dict(line.split("=", 1) for line in text.splitlines())["listeners"]
        ports = {
            name.lower(): int(port)
            for name, port in (
                (listener.split("://")[0], listener.rsplit(":", 1)[1])
                for listener in listeners.split(",")
            )
        }
        self.launched.append(ports)
        failing = self.bind_failures[len(self.launched) - 1]
        console = self.broker.directory / "logs" / "stdout.log"
        if failing:
            console.write_text(
                f"[x] ERROR [SocketServer] Socket server failed to bind to "
                f"127.0.0.1:{ports[failing]}: Address already in use.\n"
            )
        self.alive = not failing
        return 4_000_000 + len(self.launched)


def test_a_chosen_port_taken_before_the_bind_is_retried_with_new_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = LocalBroker("race", tmp_path)
    runtime = FakeRuntime(broker, monkeypatch)
    runtime.bind_failures = ["plaintext", "controller", ""]
    info = broker.start()
    assert len(runtime.launched) == 3
    assert info.port == runtime.launched[2]["plaintext"]
    assert info.cluster_id == CLUSTER_ID
    assert runtime.launched[0]["plaintext"] != info.port
    assert runtime.launched[1]["controller"] != info.controller_port
    assert runtime.terminated == [4_000_001, 4_000_002]


def test_the_port_race_is_retried_a_bounded_number_of_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = LocalBroker("race", tmp_path)
    runtime = FakeRuntime(broker, monkeypatch)
    runtime.bind_failures = ["plaintext"] * (PORT_ATTEMPTS + 1)
    with pytest.raises(BrokerStartFailed, match=r"(?s)exited while starting.*failed to bind"):
        broker.start()
    assert len(runtime.launched) == PORT_ATTEMPTS
    assert broker.status() is None


def test_a_port_asked_for_that_is_taken_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = LocalBroker("race", tmp_path)
    runtime = FakeRuntime(broker, monkeypatch)
    runtime.bind_failures = ["plaintext", ""]
    port = local_module.free_ports(1)[0]
    with pytest.raises(BrokerStartFailed, match=f"failed to bind to 127.0.0.1:{port}"):
        broker.start(port=port)
    assert len(runtime.launched) == 1


def test_another_kafka_answering_on_the_port_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = LocalBroker("foreign", tmp_path)
    runtime = FakeRuntime(broker, monkeypatch)
    runtime.bind_failures = [""]
    runtime.answering = "AAAAAAAAAAAAAAAAAAAAAA"
    with pytest.raises(
        BrokerStartFailed,
        match=r"another Kafka answers on 127\.0\.0\.1:\d+ \(cluster id AAAAAAAAAAAAAAAAAAAAAA\), "
        f"not the broker 'foreign' just started \\(cluster id {CLUSTER_ID}\\)",
    ):
        broker.start()
    assert runtime.terminated == [4_000_001]
    assert broker.status() is None


def test_restart_expects_the_cluster_id_of_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = LocalBroker("again", tmp_path)
    runtime = FakeRuntime(broker, monkeypatch)
    runtime.bind_failures = ["", "", ""]
    info = broker.start()
    (broker.directory / "data" / "meta.properties").write_text(
        f"version=1\ncluster.id={CLUSTER_ID}\nnode.id=1\n"
    )
    runtime.alive = False  # stopped by a signal
    runtime.answering = "AAAAAAAAAAAAAAAAAAAAAA"
    with pytest.raises(BrokerStartFailed, match="another Kafka answers"):
        broker.restart(info)
    runtime.answering = CLUSTER_ID
    assert broker.restart(info).cluster_id == CLUSTER_ID
