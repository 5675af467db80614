"""FastAGI server over real sockets, speaking the AGI protocol as Asterisk does (the real-Asterisk
route tests live in tests/integration/test_agi_asterisk.py)."""

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from standardiste.config import Secrets
from standardiste.integration.agi import AgiRoutes, AgiServer, parse_script
from standardiste.understanding.types import Intent, Understanding, Urgency

MONDAY_10H = dt.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
KEY = "A" * 43 + "="  # 32 bytes, urlsafe base64


class AsteriskSide:
    """The Asterisk end of one FastAGI session: sends the environment, answers every command 200."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.commands: list[str] = []

    @classmethod
    async def open(cls, port: int, script: str, **extra: str) -> "AsteriskSide":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        env = {
            "agi_network": "yes",
            "agi_network_script": script,
            "agi_channel": "PJSIP/caller1-0001",
            "agi_callerid": "0612345678",
        } | extra
        writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
        await writer.drain()
        return cls(reader, writer)

    async def run(self) -> dict[str, str]:
        variables = {}
        while line := await self.reader.readline():
            command = line.decode().strip()
            self.commands.append(command)
            if command.startswith("SET VARIABLE"):
                _, _, name, value = command.split(" ", 3)
                variables[name] = value.strip('"')
            self.writer.write(b"200 result=1\n")
            await self.writer.drain()
        return variables


def fake_classify(text: str, now: dt.datetime) -> Understanding:
    # Stand-in classifier: this test checks the AGI plumbing; the real engine is tested elsewhere.
    if "poitrine" in text:
        return Understanding(text, Intent.EMERGENCY, 1.0, Urgency.URGENT)
    return Understanding(text, Intent.ASK_HOURS, 0.93, Urgency.NORMAL)


@pytest.fixture
async def server(demo_config):
    routes = AgiRoutes(
        practice=lambda: demo_config.practice,
        classify_text=fake_classify,
        transcribe_wav=None,
        caller_lookup=lambda number, now: (number == "+33612345678", MONDAY_10H + dt.timedelta(days=1)),
        app_name="standardiste",
        recordings=None,
        clock=lambda: MONDAY_10H,
    )
    srv = AgiServer(routes.table(), port=0)
    await srv.start()
    yield srv
    await srv.stop()


def test_script_parsing():
    assert parse_script("hours") == ("hours", [])
    assert parse_script("/classify?text=j%27ai+mal") == ("classify", ["j'ai mal"])


async def test_hours_route(server):
    variables = await (await AsteriskSide.open(server.port, "hours")).run()
    assert variables["STANDARDISTE_OPEN"] == "1" and variables["STANDARDISTE_STATUS"] == "OK"


async def test_classify_given_text(server):
    side = await AsteriskSide.open(server.port, "classify", agi_arg_1="j'ai très mal à la poitrine")
    variables = await side.run()
    assert variables["STANDARDISTE_INTENT"] == "emergency"
    assert variables["STANDARDISTE_URGENCY"] == "urgent"


async def test_classify_without_recognizer_is_a_clean_error(server):
    variables = await (await AsteriskSide.open(server.port, "classify")).run()
    assert variables["STANDARDISTE_STATUS"] == "ERROR" and variables["STANDARDISTE_ERROR"] == "no_recognizer"


async def test_caller_route(server):
    variables = await (await AsteriskSide.open(server.port, "caller")).run()
    assert variables["STANDARDISTE_KNOWN_PATIENT"] == "1"
    assert variables["STANDARDISTE_NEXT_APPOINTMENT"].startswith("2026-11-24T10:00")


async def test_unknown_route_is_a_clean_error(server):
    variables = await (await AsteriskSide.open(server.port, "nope")).run()
    assert variables["STANDARDISTE_ERROR"] == "unknown_route"


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"hello\n\n",
        b"agi_network_script hours\n\n",
        b"\xff\xfe\x00garbage",
        b"agi_x: " + b"y" * 20000 + b"\n",
    ],
)
async def test_malformed_sessions_are_closed_and_the_server_keeps_serving(server, garbage):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(garbage)
    await writer.drain()
    if not garbage.endswith(b"\n\n"):
        writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 6) == b""  # closed, nothing sent
    writer.close()
    variables = await (await AsteriskSide.open(server.port, "hours")).run()
    assert variables["STANDARDISTE_STATUS"] == "OK"


async def test_channel_hanging_up_mid_route_is_harmless(server):
    side = await AsteriskSide.open(server.port, "hours")
    await side.reader.readline()
    side.writer.write(b"HANGUP\n")
    await side.writer.drain()
    side.writer.close()
    variables = await (await AsteriskSide.open(server.port, "hours")).run()
    assert variables["STANDARDISTE_OPEN"] == "1"


def test_caller_lookup_reads_the_agenda(tmp_path, demo_config):
    from standardiste.agenda.model import PatientIdentity, SlotQuery, Source
    from standardiste.agenda.sql import SqlAgenda
    from standardiste.integration.lookup import caller_lookup
    from standardiste.storage.db import Database

    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    db.migrate()
    agenda = SqlAgenda(db, demo_config.practice)
    slot = agenda.find_slots(SlotQuery(), MONDAY_10H)[0]
    identity = PatientIdentity("Durand", "Paul", dt.date(1970, 5, 4), "+33612345678")
    agenda.book(slot, identity, Source.PHONE, MONDAY_10H)
    assert caller_lookup(db, "+33612345678", MONDAY_10H) == (True, slot.start)
    assert caller_lookup(db, "+33699999999", MONDAY_10H) == (False, None)
    db.dispose()


class RecordingRecognizer:
    """Stand-in recogniser: records what it is fed (the real ones are tested in tests/integration)."""

    name = "test"
    open_vocabulary = True
    understands_french = True

    def __init__(self):
        self.frames: list[bytes] = []
        self.rates: list[int] = []

    async def stream(self, sample_rate=16000):
        from standardiste.speech.types import Transcript

        outer = self
        outer.rates.append(sample_rate)

        class Stream:
            async def set_grammar(self, phrases):
                pass

            async def accept(self, pcm):
                outer.frames.append(pcm)

            async def finish(self):
                return Transcript("bonjour" if outer.frames else "", True)

            async def close(self):
                pass

        return Stream()


async def test_wav_transcriber_feeds_16k_frames_and_survives_bad_files(tmp_path):
    import wave

    from standardiste.integration.service import WavTranscriber

    recognizer = RecordingRecognizer()
    transcribe = WavTranscriber(recognizer)
    path = tmp_path / "one.wav"
    with wave.open(str(path), "wb") as w:  # what Asterisk's RECORD FILE ... wav writes: 8 kHz
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * 8000)
    assert await transcribe(path) == "bonjour"
    assert recognizer.rates == [16000]
    assert all(len(f) == 640 for f in recognizer.frames[:-1]) and sum(map(len, recognizer.frames)) == 32000
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x00\x00not a wav")
    assert await transcribe(garbage) is None
    assert await transcribe(tmp_path / "missing.wav") is None


def test_recordings_go_to_the_deployment_instance_spool(tmp_path, demo_config):
    from standardiste.integration.service import can_transcribe, default_recordings

    asterisk = demo_config.deployment.asterisk.model_copy(update={"root": tmp_path / "root"})
    deployment = demo_config.deployment.model_copy(
        update={"asterisk": asterisk, "data_dir": tmp_path / "data"}
    )
    place = default_recordings(demo_config.model_copy(update={"deployment": deployment}))
    assert place.pbx_dir.startswith("/instances/run-") and place.pbx_dir.endswith("/spool/tmp")
    assert place.host_dir == (tmp_path / "root").resolve() / place.pbx_dir.lstrip("/")
    assert not can_transcribe(None)


async def test_unparsable_script_is_an_unknown_route(server):
    variables = await (await AsteriskSide.open(server.port, "//[x/hours")).run()
    assert variables["STANDARDISTE_ERROR"] == "unknown_route"


@pytest.mark.parametrize("reply", [b"\n", b"garbage\n", b"", b"510 Invalid or unknown command\n"])
async def test_garbled_or_missing_replies_end_the_session_quietly(server, reply, caplog):
    side = await AsteriskSide.open(server.port, "hours")
    await side.reader.readline()  # the first SET VARIABLE
    side.writer.write(reply)
    if not reply:
        side.writer.write_eof()
    await side.writer.drain()
    while await asyncio.wait_for(side.reader.readline(), 6):
        side.writer.write(reply or b"")
        await side.writer.drain()
    side.writer.close()
    assert "Traceback" not in caplog.text
    variables = await (await AsteriskSide.open(server.port, "hours")).run()
    assert variables["STANDARDISTE_STATUS"] == "OK"


async def test_service_keeps_running_when_the_agi_port_is_taken(tmp_path, demo_config):
    """The assistant must keep answering calls: a taken FastAGI port is logged, not fatal."""
    import socket

    from standardiste.integration.service import IntegrationService
    from standardiste.storage.db import Database

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        agi = demo_config.deployment.agi.model_copy(update={"port": port})
        config = demo_config.model_copy(
            update={"deployment": demo_config.deployment.model_copy(update={"agi": agi})}
        )
        db = Database(f"sqlite:///{tmp_path / 's.db'}")
        secrets_ = Secrets(ari_password="x", ami_secret="x", encryption_key=KEY, session_key="x")
        service = IntegrationService(config, secrets_, db, None, None, ami=False)  # type: ignore[arg-type]
        await service.start()
        assert service.agi_listening is False and service.reception_available() is None
        await service.stop()
        db.dispose()


async def test_stop_ends_sessions_in_progress(server):
    side = await AsteriskSide.open(server.port, "hours")
    await side.reader.readline()  # the route waits for our reply, forever
    await asyncio.wait_for(server.stop(), 5)
    assert await asyncio.wait_for(side.reader.read(), 5) == b""


async def test_fuzzed_agi_sessions_never_break_the_server(server):
    """Seeded, bounded: random environments, scripts and replies; the server answers or closes, and
    keeps serving; no exception escapes a session (the loop's exception handler stays silent)."""
    import random

    rng = random.Random(4573)
    loop_errors: list[dict] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    scripts = [
        "hours",
        "caller",
        "classify",
        "assistant",
        "nope",
        "",
        "/",
        "?",
        "classify?text=%ff%fe",
        "//[x",
    ]
    replies = [
        b"200 result=1\n",
        b"200 result=-1\n",
        b"HANGUP\n",
        b"520-Invalid\n",
        b"\n",
        b"x\n",
        b"100 Trying\n",
    ]
    for _ in range(100):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        env = {
            "agi_network_script": rng.choice(scripts),
            "agi_callerid": rng.choice(["", "unknown", "0612", "x" * 50]),
        }
        for _ in range(rng.randint(0, 5)):
            env[f"agi_{rng.choice(['arg_1', 'arg_2', 'channel', 'x'])}"] = "".join(
                chr(rng.randint(32, 0x24F)) for _ in range(rng.randint(0, 30))
            )
        lines = [f"{k}: {v}\n" for k, v in env.items()]
        if rng.random() < 0.2:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(["junk\n", "agi_x:\n", ": y\n"]))
        terminated = rng.random() < 0.9
        writer.write("".join(lines).encode() + (b"\n" if terminated else b""))
        if not terminated:
            writer.write_eof()  # a truncated environment
        try:
            for _ in range(rng.randint(0, 12)):
                line = await asyncio.wait_for(reader.readline(), 0.3)
                if not line:
                    break
                writer.write(rng.choice(replies))
                await writer.drain()
            if terminated and rng.random() < 0.5:
                writer.write_eof()
        except (ConnectionError, TimeoutError):
            pass
        writer.close()
    await asyncio.sleep(0.2)
    loop.set_exception_handler(None)
    assert loop_errors == []
    variables = await (await AsteriskSide.open(server.port, "hours")).run()
    assert variables["STANDARDISTE_STATUS"] == "OK"
