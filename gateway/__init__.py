"""The edge gateway (``smartpark gateway``): field devices to the wire contract.

Modules: registers (Modbus register maps: decoding, read planning; pure), modbus (one
poller per device), forward (publishing with store-and-forward to a disk buffer),
service (the running gateway), app (built from Settings), cli.
"""
