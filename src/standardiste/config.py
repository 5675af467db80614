"""One configuration file for the practice and the deployment, validated at start.

The file is TOML. Errors name the bad key, in French and in English, so that a
clinic's IT person can fix it without reading code.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")

_RANGE_RE = re.compile(r"^\s*(\d{1,2})[:h](\d{2})\s*-\s*(\d{1,2})[:h](\d{2})\s*$")
_ID_RE = r"^[a-z0-9][a-z0-9_-]*$"
# Values that reach Asterisk's files (a section name, an `exten =>` line, a Dial() target): no
# newline, semicolon, bracket, comma, slash, '@' or space can get through these patterns.
ASTERISK_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ASTERISK_EXTEN_RE = r"^[0-9A-Za-z*#+][0-9A-Za-z*#+-]{0,31}$"
# Outbound numbers: French national format after normalisation (0 + 9 digits).
DEFAULT_OUTBOUND_PREFIXES = ("01", "02", "03", "04", "05", "06", "07")


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the key, in French and English."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeRange(_Model):
    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        match = _RANGE_RE.match(text)
        if not match:
            raise ValueError(
                f"plage horaire invalide / invalid time range {text!r} (attendu/expected 'HH:MM-HH:MM')"
            )
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = dt.time(h1, m1), dt.time(h2, m2)
        if end <= start:
            raise ValueError(
                f"la plage {text!r} finit avant de commencer / range {text!r} ends before it starts"
            )
        return cls(start=start, end=end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _ranges(value: Any) -> list[TimeRange]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(
            "attendu une liste de plages 'HH:MM-HH:MM' / expected a list of 'HH:MM-HH:MM' ranges"
        )
    ranges = sorted(
        (TimeRange.parse(v) if isinstance(v, str) else TimeRange.model_validate(v) for v in value),
        key=lambda r: r.start,
    )
    for before, after in itertools.pairwise(ranges):
        if after.start < before.end:
            raise ValueError(f"plages qui se chevauchent / overlapping ranges: {before} et/and {after}")
    return ranges


class WeeklyHours(_Model):
    """Opening hours per weekday; a missing day is closed."""

    monday: list[TimeRange] = []
    tuesday: list[TimeRange] = []
    wednesday: list[TimeRange] = []
    thursday: list[TimeRange] = []
    friday: list[TimeRange] = []
    saturday: list[TimeRange] = []
    sunday: list[TimeRange] = []

    @field_validator(*WEEKDAYS, mode="before")
    @classmethod
    def _parse(cls, value: Any) -> list[TimeRange]:
        return _ranges(value)

    def for_weekday(self, weekday: int) -> list[TimeRange]:
        """Ranges for a Python weekday number (Monday is 0)."""
        return getattr(self, WEEKDAYS[weekday])

    def is_open(self, moment: dt.datetime) -> bool:
        t = moment.time()
        return any(r.start <= t < r.end for r in self.for_weekday(moment.weekday()))


class Practitioner(_Model):
    id: Annotated[str, Field(pattern=_ID_RE)]
    name: str
    specialty: str
    # Other ways callers (or the recogniser) say the name: "docteur martin", "claire".
    aliases: list[str] = []
    # Own hours; when absent, the practice's hours apply.
    hours: WeeklyHours | None = None


class Closure(_Model):
    start: dt.date
    end: dt.date
    label: str = "fermeture"
    practitioner: str | None = None  # None: the whole practice

    @model_validator(mode="after")
    def _order(self) -> Closure:
        if self.end < self.start:
            raise ValueError("la fermeture finit avant de commencer / closure ends before it starts")
        return self


class AppointmentType(_Model):
    id: Annotated[str, Field(pattern=_ID_RE)]
    label: str
    minutes: Annotated[int, Field(gt=0, le=240)]
    practitioners: list[str] | Literal["all"] = "all"
    follow_up_call: bool = False


class OutboundPolicy(_Model):
    """Which numbers the assistant may call (reminders, callbacks): French national prefixes
    (default: geographic 01-05 and mobile 06-07; never 08 premium rate, 09, short numbers or abroad)."""

    allowed_prefixes: list[Annotated[str, Field(pattern=r"^0[1-9][0-9]{0,3}$")]] = list(
        DEFAULT_OUTBOUND_PREFIXES
    )


class BookingRules(_Model):
    min_notice_minutes: Annotated[int, Field(ge=0)] = 60
    # Bookings one phone number may make per day (by telephone); 0: no limit.
    max_per_phone_per_day: Annotated[int, Field(ge=0, le=100)] = 3
    horizon_days: Annotated[int, Field(gt=0, le=730)] = 90
    hold_seconds: Annotated[int, Field(gt=0, le=3600)] = 180
    default_type: str = "consultation"


class ReminderPolicy(_Model):
    enabled: bool = True
    # "day_before_at" (J-1 at `at`) or "hours_before".
    mode: Literal["day_before_at", "hours_before"] = "day_before_at"
    at: dt.time = dt.time(18, 0)
    hours_before: Annotated[int, Field(gt=0, le=168)] = 24
    window_start: dt.time = dt.time(9, 0)
    window_end: dt.time = dt.time(19, 30)
    call_on_saturday: bool = True
    retries: Annotated[int, Field(ge=0, le=5)] = 2
    retry_delay_minutes: Annotated[int, Field(gt=0, le=720)] = 30
    max_concurrent_calls: Annotated[int, Field(gt=0, le=50)] = 2


class Faq(_Model):
    """Answers to practical questions, in French, as the assistant will say them. Empty: not known."""

    address_access: str = ""
    parking: str = ""
    documents_to_bring: str = ""
    price_payment: str = ""
    carte_vitale: str = ""
    tiers_payant: str = ""
    extra: dict[str, str] = {}


class PracticeConfig(_Model):
    name: str
    address: str
    phone: str = ""
    timezone: str = "Europe/Paris"
    emergency_number: str = "15"
    hours: WeeklyHours
    practitioners: Annotated[list[Practitioner], Field(min_length=1)]
    closures: list[Closure] = []
    appointment_types: list[AppointmentType] = [
        AppointmentType(id="consultation", label="consultation", minutes=20)
    ]
    booking: BookingRules = BookingRules()
    reminders: ReminderPolicy = ReminderPolicy()
    outbound: OutboundPolicy = OutboundPolicy()
    faq: Faq = Faq()
    # Extra NLU training data (Rasa nlu.yml format) for this practice, added to the packaged data.
    nlu_extra: list[Path] = []
    # Extra red flags (same layout as understanding/data/red_flags.yml), checked at start (docs/safety.md).
    red_flags_extra: list[Path] = []

    @model_validator(mode="after")
    def _red_flags(self) -> PracticeConfig:
        if self.red_flags_extra:
            from standardiste.understanding.urgency import SafetyDataError, load_red_flags

            try:
                load_red_flags(self.red_flags_extra)
            except SafetyDataError as err:
                raise ValueError(f"red_flags_extra: {err}") from err
        return self

    @model_validator(mode="after")
    def _references(self) -> PracticeConfig:
        ids = [p.id for p in self.practitioners]
        if len(set(ids)) != len(ids):
            raise ValueError(f"identifiant de praticien en double / duplicate practitioner id in {ids}")
        for closure in self.closures:
            if closure.practitioner is not None and closure.practitioner not in ids:
                raise ValueError(
                    f"closures: praticien inconnu / unknown practitioner {closure.practitioner!r}"
                )
        for kind in self.appointment_types:
            if kind.practitioners != "all":
                for pid in kind.practitioners:
                    if pid not in ids:
                        raise ValueError(
                            f"appointment_types.{kind.id}: praticien inconnu / unknown practitioner {pid!r}"
                        )
        if self.booking.default_type not in {t.id for t in self.appointment_types}:
            raise ValueError(
                f"booking.default_type: type inconnu / unknown appointment type {self.booking.default_type!r}"
            )
        return self

    def practitioner(self, practitioner_id: str) -> Practitioner:
        for p in self.practitioners:
            if p.id == practitioner_id:
                return p
        raise KeyError(practitioner_id)

    def hours_for(self, practitioner_id: str) -> WeeklyHours:
        return self.practitioner(practitioner_id).hours or self.hours


class AsteriskConfig(_Model):
    root: Path | None = None  # None: the cached root built by `standardiste pbx build`
    bind: str = "127.0.0.1"
    sip_port: Annotated[int, Field(gt=0, lt=65536)] = 5060
    http_port: Annotated[int, Field(gt=0, lt=65536)] = 8088
    ami_port: Annotated[int, Field(gt=0, lt=65536)] = 5038
    rtp_start: Annotated[int, Field(gt=1024, lt=65536)] = 10000
    rtp_end: Annotated[int, Field(gt=1024, lt=65536)] = 10999
    app_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] = "standardiste"
    ari_user: Annotated[str, Field(pattern=ASTERISK_NAME_RE)] = "standardiste"
    ami_user: Annotated[str, Field(pattern=ASTERISK_NAME_RE)] = "standardiste"
    reception_endpoint: Annotated[str, Field(pattern=ASTERISK_NAME_RE)] = "reception"
    practice_extension: Annotated[str, Field(pattern=ASTERISK_EXTEN_RE)] = "100"
    # where reminder calls go (a trunk, or a test endpoint)
    outbound_endpoint: Annotated[str, Field(pattern=ASTERISK_NAME_RE)] = "trunk"
    # Other internal phones the reception phones may dial by name (besides the reception endpoint and
    # the queue members). Phones dial nothing else: no SIP URI, no trunk (docs/security.md).
    dialable_endpoints: list[Annotated[str, Field(pattern=ASTERISK_NAME_RE)]] = Field(default_factory=list)
    # Asterisk drops root right after start (-U/-G) to this user of the Asterisk root's /etc/passwd
    # (the Debian package's "asterisk"); None keeps root (tests on a developer's machine only).
    run_as_user: Annotated[str, Field(pattern=ASTERISK_NAME_RE)] | None = None
    run_as_group: Annotated[str, Field(pattern=ASTERISK_NAME_RE)] | None = None  # None: the user's
    # The reception's waiting line (app_queue): who it rings (PJSIP endpoints; empty: the reception
    # endpoint), how (ringall, rrmemory, leastrecent, fewestcalls, random, linear), the longest wait
    # before the caller may leave a message, and the longest message.
    queue_members: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]] = Field(default_factory=list)
    queue_strategy: Literal["ringall", "rrmemory", "leastrecent", "fewestcalls", "random", "linear"] = (
        "ringall"
    )
    queue_max_wait_s: Annotated[int, Field(ge=10, le=1800)] = 120
    message_max_s: Annotated[int, Field(ge=10, le=600)] = 120
    # Cluster node (docs/scale.md): the Kamailio addresses whose calls this Asterisk takes without
    # authentication (the pjsip "edge" endpoint, matched by source address, into standardiste-inbound).
    edge_addresses: list[str] = Field(default_factory=list)

    @field_validator("edge_addresses")
    @classmethod
    def _edges(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_address(item)
            except ValueError:
                raise ValueError(f"adresse IP attendue / IP address expected: {item!r}") from None
        return value

    @field_validator("bind")
    @classmethod
    def _address(cls, value: str) -> str:
        import ipaddress

        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"adresse IP attendue / IP address expected: {value!r}") from None
        return value

    @property
    def local_host(self) -> str:
        """Where ARI/HTTP and AMI listen: loopback always (the controller runs beside Asterisk), even when
        SIP faces the LAN (`bind`, a cluster node's address)."""
        return self.bind if self.bind.startswith("127.") else "127.0.0.1"

    @model_validator(mode="after")
    def _ports(self) -> AsteriskConfig:
        if self.rtp_end <= self.rtp_start:
            raise ValueError("rtp_end doit dépasser rtp_start / rtp_end must exceed rtp_start")
        return self

    @model_validator(mode="after")
    def _edge_name(self) -> AsteriskConfig:
        # A cluster node's pjsip endpoint for Kamailio is named "edge": no phone may take that name.
        phones = {
            self.reception_endpoint,
            self.outbound_endpoint,
            *self.queue_members,
            *self.dialable_endpoints,
        }
        if self.edge_addresses and "edge" in phones:
            raise ValueError(
                "« edge » est réservé au point d'entrée du cluster / 'edge' is reserved for the edge"
            )
        return self


class SpeechConfig(_Model):
    # auto: Whisper (open) + PocketSphinx (closed questions) when installed, else Vosk French, else
    # PocketSphinx grammars alone, else the keypad.
    recognizer: Literal["auto", "whisper", "vosk", "sphinx", "keypad"] = "auto"
    vosk_model: str = "vosk-model-small-fr-0.22"
    whisper_model: str = "whisper-base-ct2"
    # Decodes at once on the shared Whisper model (threads; each uses one core).
    whisper_workers: Annotated[int, Field(ge=1, le=16)] = 2
    # The assistant's voice: "pico" (SVOX Pico fr-FR, far clearer on the phone), "espeak" (espeak-ng),
    # or "auto": Pico when installed, espeak-ng otherwise (the start-up log and `doctor` say which).
    synthesizer: Literal["auto", "pico", "espeak"] = "auto"
    pico_speed_percent: Annotated[int, Field(ge=50, le=200)] = 100
    voice: str = "fr+f2"  # the espeak-ng voice
    speed_wpm: Annotated[int, Field(ge=80, le=400)] = 165  # espeak-ng's speed
    silence_timeout_s: Annotated[float, Field(gt=0, le=30)] = 6.0
    end_of_turn_ms: Annotated[int, Field(ge=200, le=3000)] = 700
    # Adaptive end of turn: a turn that already holds a complete answer (a yes, a full time, a whole
    # sentence) ends after this much silence; 0 turns it off (always end_of_turn_ms).
    short_end_of_turn_ms: Annotated[int, Field(ge=0, le=3000)] = 250
    max_turn_s: Annotated[float, Field(gt=1, le=60)] = 15.0


class CapacityConfig(_Model):
    """Admission control: beyond capacity new callers go to the reception's waiting line at once."""

    # Calls in progress beyond which new callers queue; 0: no cap; "auto": calls_per_core times the CPU
    # cores the controller may use (the start-up log says the figure).
    max_calls: Annotated[int, Field(ge=0, le=10000)] | Literal["auto"] = "auto"
    # None: the figure measured for the recogniser in use (telephony/admission.py: 2 per core with Whisper,
    # bench/results/capacity-open.md); set it after measuring your own server (bench/bench_capacity.py).
    calls_per_core: Annotated[float, Field(gt=0, le=1000)] | None = None
    # Recognition work waiting this long for a decoding thread means overload; 0: not used.
    max_recognition_delay_s: Annotated[float, Field(ge=0, le=60)] = 2.0


class RedisConfig(_Model):
    # None: the Redis that Standardiste runs itself (`manage_server`, or the standardiste-redis unit):
    # a unix socket in data_dir/redis (mode 0700), user "standardiste" with secrets.toml's
    # redis_password. A URL: a Redis run otherwise; without a password in it, secrets.toml's is used.
    url: str | None = None
    manage_server: bool = True  # start a local redis-server with AOF under data_dir


class DashboardConfig(_Model):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(gt=0, lt=65536)] = 8080
    session_minutes: Annotated[int, Field(gt=0, le=1440)] = 60
    # HTTPS: "auto" = on when listening beyond loopback (a self-signed certificate made at first start in
    # data_dir/tls, or cert_file/key_file); "on"; "off" (loopback, or behind a reverse proxy doing TLS).
    tls: Literal["auto", "on", "off"] = "auto"
    cert_file: Path | None = None
    key_file: Path | None = None
    # Reverse proxies (addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto are believed.
    trusted_proxies: list[str] = Field(default_factory=list)
    # "own": practitioners see their own patients' requests and appointments (not the call log); "all".
    practitioner_scope: Literal["own", "all"] = "own"

    @property
    def uses_tls(self) -> bool:
        return self.tls == "on" or (self.tls == "auto" and self.host not in ("127.0.0.1", "localhost", "::1"))


class AgiConfig(_Model):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(gt=0, lt=65536)] = 4573
    # Peers allowed to connect (addresses or networks), checked on every connection.
    allowed_peers: list[str] = ["127.0.0.1/32", "::1/128"]
    # Require secrets.toml's agi_secret as the `secret` argument of every request
    # (AGI(agi://127.0.0.1:4573/caller?secret=...)).
    require_secret: bool = False
    # Patient lookups (the `caller` route) per peer address and minute; beyond, STANDARDISTE_STATUS=ERROR.
    lookups_per_minute: Annotated[int, Field(gt=0, le=6000)] = 60

    @field_validator("allowed_peers")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"adresse ou réseau invalide / invalid address or network: {item!r}"
                ) from None
        return value


class PrivacyConfig(_Model):
    retention_days: Annotated[int, Field(gt=0, le=3650)] = 90
    record_audio: bool = False
    # Write what callers say and what the assistant says back (names, dates) into the logs.
    # Off: the logs keep only lengths and events; the call log (encrypted) keeps the dialogue.
    log_transcripts: bool = False
    # The encryption key, kept apart from the data (a stolen copy of data_dir holds no key). None: next
    # to data_dir, "<data_dir>-keys/encryption.key"; production: /etc/standardiste/encryption.key.
    key_file: Path | None = None
    # The dashboard's audit log (who saw or changed what) is kept longer than the calls themselves.
    audit_retention_days: Annotated[int, Field(gt=0, le=3650)] = 365


class CalDavConfig(_Model):
    """The clinic's CalDAV server as the agenda (absent: the embedded agenda)."""

    url: str
    username: str = ""
    password_file: Path | None = None  # a file holding the password (kept out of this file)
    calendars: dict[str, str]  # practitioner id -> calendar path or URL
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0


def _ip(value: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"adresse IP attendue / IP address expected: {value!r}") from None
    return value


class ClusterNode(_Model):
    """One node (Asterisk + controller) behind Kamailio, as the edge reaches it."""

    name: Annotated[str, Field(pattern=_ID_RE)]
    address: str
    sip_port: Annotated[int, Field(gt=0, lt=65536)] = 5060

    _check_address = field_validator("address")(classmethod(lambda cls, v: _ip(v)))


class EdgeConfig(_Model):
    """Kamailio, the cluster's SIP entry point (role "edge"): where it listens and the nodes it probes
    with SIP OPTIONS (docs/scale.md)."""

    listen: str = "127.0.0.1"
    port: Annotated[int, Field(gt=0, lt=65536)] = 5060
    nodes: Annotated[list[ClusterNode], Field(min_length=1)]
    # A node leaves the set after `probe_failures` unanswered probes sent every `probe_interval_s`, each
    # waiting `probe_timeout_ms`: with 1 s, 2 and 1000 ms it leaves 2 to 4 s after it stops answering.
    probe_interval_s: Annotated[int, Field(ge=1, le=60)] = 1
    probe_failures: Annotated[int, Field(ge=1, le=10)] = 2
    probe_timeout_ms: Annotated[int, Field(ge=200, le=10000)] = 1000
    # Probes a node must answer again before it rejoins.
    probe_successes: Annotated[int, Field(ge=1, le=10)] = 1
    children: Annotated[int, Field(ge=1, le=64)] = 2

    _check_listen = field_validator("listen")(classmethod(lambda cls, v: _ip(v)))

    @model_validator(mode="after")
    def _unique(self) -> EdgeConfig:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"nœud en double / duplicate node name in {names}")
        targets = [(n.address, n.sip_port) for n in self.nodes]
        if len(set(targets)) != len(targets):
            raise ValueError("deux nœuds à la même adresse / two nodes at the same address and port")
        if (self.listen, self.port) in targets:
            raise ValueError("Kamailio écoute à l'adresse d'un nœud / edge listens on a node's address")
        return self

    @property
    def worst_leave_s(self) -> float:
        """The longest a silent node stays in the set: its last answered probe just before it died."""
        return self.probe_failures * max(self.probe_interval_s, self.probe_timeout_ms / 1000) + (
            self.probe_interval_s
        )


class ClusterConfig(_Model):
    """This machine's role. "single": one server, everything local (the default). "node": Asterisk +
    controller behind Kamailio, sharing PostgreSQL (database_url) and Redis over TCP (redis.url) with
    the other nodes. "edge": the Kamailio machine (`standardiste cluster kamailio-config`)."""

    role: Literal["single", "node", "edge"] = "single"
    # This node's name in the shared call log and dashboard (unique in the cluster).
    node_name: Annotated[str, Field(pattern=_ID_RE)] = "node1"
    edge: EdgeConfig | None = None

    @model_validator(mode="after")
    def _role(self) -> ClusterConfig:
        if self.role == "edge" and self.edge is None:
            raise ValueError("role edge : section [deployment.cluster.edge] requise / edge section required")
        return self


class DeploymentConfig(_Model):
    data_dir: Path = Path("var/standardiste")
    database_url: str | None = None  # None: SQLite file in data_dir
    asterisk: AsteriskConfig = AsteriskConfig()
    speech: SpeechConfig = SpeechConfig()
    capacity: CapacityConfig = CapacityConfig()
    redis: RedisConfig = RedisConfig()
    dashboard: DashboardConfig = DashboardConfig()
    agi: AgiConfig = AgiConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    log_format: Literal["json", "text"] = "json"
    # Also write the logs to this file (mode 0640, rotated at 10 MB, 5 kept); None: stderr only
    # (the journal, under systemd). Personal data is masked unless privacy.log_transcripts.
    log_file: Path | None = None
    caldav: CalDavConfig | None = None
    cluster: ClusterConfig = ClusterConfig()

    @model_validator(mode="after")
    def _cluster_shared_state(self) -> DeploymentConfig:
        """A node shares the agenda, inbox, call log and reminders: PostgreSQL and a Redis reached over
        TCP (a node's own SQLite or unix-socket Redis would split the cluster's state)."""
        if self.cluster.role != "node":
            return self
        if not (self.database_url or "").startswith("postgresql"):
            raise ValueError(
                "cluster.role = node : database_url PostgreSQL requis / a PostgreSQL database_url is required"
            )
        if not (self.redis.url or "").startswith(("redis://", "rediss://")) or self.redis.manage_server:
            raise ValueError(
                "cluster.role = node : redis.url TCP partagé et manage_server = false requis / "
                "a shared TCP redis.url with manage_server = false is required"
            )
        if not self.asterisk.edge_addresses:
            raise ValueError(
                "cluster.role = node : asterisk.edge_addresses requis (adresse de Kamailio) / "
                "asterisk.edge_addresses (the edge's address) required"
            )
        if self.asterisk.bind in ("127.0.0.1", "::1"):
            raise ValueError(
                "cluster.role = node : asterisk.bind doit être joignable par Kamailio / "
                "asterisk.bind must be reachable by the edge"
            )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'standardiste.db').resolve()}"


class Config(_Model):
    practice: PracticeConfig
    deployment: DeploymentConfig = DeploymentConfig()


class Secrets(_Model):
    """Per-install secrets, generated on first start and kept in data_dir/secrets.toml (mode 0600)."""

    ari_password: str
    ami_secret: str
    # Legacy: the encryption key now lives apart from the data, in privacy.key_file (privacy/keys.py moves
    # it there from old secrets.toml files). Set here only by tests and by those old files.
    encryption_key: str = ""
    session_key: str  # dashboard cookies
    # Redis ACL user "standardiste"; secrets.toml files written before it existed get one added.
    redis_password: str = Field(default_factory=lambda: secrets.token_urlsafe(24))
    # FastAGI shared secret (used when deployment.agi.require_secret).
    agi_secret: str = Field(default_factory=lambda: secrets.token_urlsafe(24))


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: configuration invalide / invalid configuration"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(racine/root)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "clé inconnue / unknown key"
        elif e["type"] == "missing":
            msg = "clé obligatoire manquante / required key missing"
        lines.append(f"  - {key}: {msg}")
    return "\n".join(lines)


def parse_config(data: Mapping[str, Any], source: str = "<config>") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source)) from None


def load_config(path: Path | str | None = None) -> Config:
    """Load and validate a configuration file; None loads the packaged demo practice."""
    if path is None:
        text = resources.files("standardiste.data").joinpath("demo.toml").read_text(encoding="utf-8")
        source = "demo.toml"
    else:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{path}: fichier illisible / cannot read file ({err.strerror})") from None
        source = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: TOML invalide / invalid TOML: {err}") from None
    return parse_config(data, source)


def load_or_create_secrets(data_dir: Path) -> Secrets:
    """Read data_dir/secrets.toml, creating it with fresh random values on first use."""
    path = data_dir / "secrets.toml"
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            found = Secrets.model_validate(data)
        except (tomllib.TOMLDecodeError, ValidationError) as err:
            raise ConfigError(f"{path}: secrets illisibles / unreadable secrets: {err}") from None
        missing = {k: v for k, v in found.model_dump().items() if k not in data and k != "encryption_key"}
        if missing:  # a secret added since this file was written: keep the same value from now on
            with path.open("a", encoding="utf-8") as out:
                out.write("".join(f'{k} = "{v}"\n' for k, v in missing.items()))
        return found
    fresh = Secrets(
        ari_password=secrets.token_urlsafe(24),
        ami_secret=secrets.token_urlsafe(24),
        session_key=secrets.token_urlsafe(32),
    )
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # the database, secrets and recordings: the service's user only
    tmp = path.with_suffix(".tmp")
    fields = fresh.model_dump(exclude={"encryption_key"})  # the key is kept apart (privacy/keys.py)
    tmp.write_text("".join(f'{k} = "{v}"\n' for k, v in fields.items()), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return fresh
