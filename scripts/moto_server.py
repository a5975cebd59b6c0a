"""moto server with DynamoDB requests serialized.

moto handles requests on many threads and evaluates a DynamoDB condition
expression and the write it guards without a lock, so two concurrent
conditional writes can both succeed. Real DynamoDB applies a conditional
write to an item atomically, and Wharf's claims rely on that (without the
lock, a dependent registering on its upstream while a worker finished it
once left the upstream's record `running` for good). The tests, `make demo`,
the local stack and the benchmarks therefore run moto through this script,
its DynamoDB handler behind one lock. Everything else (SQS long polls
included) stays concurrent.
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized_call_action(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _serialized_call_action

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
