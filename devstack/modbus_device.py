"""A Modbus device for tests and benchmarks: pymodbus's own server in a process of its
own, serving 64 shared holding/input registers (all 0) until killed. Callers set its
registers with Modbus writes, as a configuration tool would.

    python -m devstack.modbus_device PORT               # Modbus TCP on 127.0.0.1:PORT, unit 1
    python -m devstack.modbus_device --serial PATH UNIT  # Modbus RTU on a serial line, 9600 8N1
"""

from __future__ import annotations

import sys

from pymodbus.framer import FramerType
from pymodbus.server import StartSerialServer, StartTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice


def _device(unit: int) -> SimDevice:
    return SimDevice(id=unit, simdata=[SimData(0, count=64, values=0, datatype=DataType.REGISTERS)])


def main() -> None:
    if sys.argv[1] == "--serial":
        path, unit = sys.argv[2], int(sys.argv[3])
        StartSerialServer(context=_device(unit), framer=FramerType.RTU, port=path, baudrate=9600)
    else:
        StartTcpServer(context=_device(1), address=("127.0.0.1", int(sys.argv[1])))


if __name__ == "__main__":
    main()
