"""moto server with DynamoDB requests serialized.

moto handles requests on many threads and evaluates a DynamoDB condition
expression and the write it guards without a lock, so two concurrent
conditional writes can both succeed. Real DynamoDB applies a conditional
write to an item atomically, and Wharf's claims rely on that; the test
harness therefore runs moto with its DynamoDB handler behind one lock.
Everything else (SQS long polls included) stays concurrent.
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
