"""What the Python framework checks share: how they reach the server and
how they print what each call returned.

Each check prints one line per call, "what: result", with the result as
Python's repr() or, when the call raised, "raised" and the exception's
type. scripts/clients/frameworks.sh compares the lines with what Redis
answers, so a line must not depend on timing or on an error's wording:
lifetimes are printed as "in range" booleans, errors by their type only.
"""

import argparse
import sys

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# Seconds a client waits to connect and for each reply: a server that does
# not answer makes the check fail quickly, never hang.
SOCKET_TIMEOUT = 5

# What every redis-py connection of these checks is given: loopback only,
# bounded waits, and no retries, so each command is sent exactly once.
CONNECTION_OPTIONS = {
    "socket_timeout": SOCKET_TIMEOUT,
    "socket_connect_timeout": SOCKET_TIMEOUT,
    "retry": Retry(NoBackoff(), 0),
}


def client(port, **extra):
    """A redis-py client that decodes replies to str."""
    return redis.Redis(
        host="127.0.0.1", port=port, decode_responses=True, **CONNECTION_OPTIONS, **extra
    )


def show(what, fn):
    """Calls fn and prints what it returned, or the type of what it raised
    (and, on stderr, the error's own words, which the shell shows when the
    output differs)."""
    try:
        result = repr(fn())
    except Exception as error:  # a failing call is a result to show
        result = f"raised {type(error).__name__}"
        print(f"{what}: {type(error).__name__}: {error}", file=sys.stderr)
    print(f"{what}: {result}", flush=True)


def within(low, high, value):
    """Whether value is an integer from low to high, for lifetimes."""
    return isinstance(value, int) and low <= value <= high


def main(checks):
    """Runs the check named on the command line, after --port, with the
    port. A call outside show() that raises ends the check with a last
    line saying so, and exit status 1."""
    parser = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("check", choices=sorted(checks))
    args = parser.parse_args()
    try:
        checks[args.check](args.port)
    except Exception as error:
        print(f"stopped: raised {type(error).__name__}")
        print(f"stopped: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
