"""A Modbus TCP device for tests and benchmarks: pymodbus's own server in a process of
its own, serving 64 shared holding/input registers (all 0) as unit 1 until killed.
Callers set its registers with Modbus writes, as a configuration tool would.

    python -m devstack.modbus_device PORT
"""

from __future__ import annotations

import sys

from pymodbus.server import StartTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice


def main() -> None:
    port = int(sys.argv[1])
    device = SimDevice(id=1, simdata=[SimData(0, count=64, values=0, datatype=DataType.REGISTERS)])
    StartTcpServer(context=device, address=("127.0.0.1", port))


if __name__ == "__main__":
    main()
