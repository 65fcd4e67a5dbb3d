"""Park feed generators.

Modules:
  feed       minimal registry-driven feed, round robin over sensors (pure)
  publisher  fixed-rate publishing through a bounded QoS 1 publisher
"""
