"""fsrl's robot edge: the service that runs ON the Raspberry Pi next to the GoPiGo3's motors.

What it promises:

* it needs Python >= 3.9, pyzmq and numpy only — nothing from the host packages;
* every message follows :mod:`robot_edge.protocol` (fixed binary layout, versioned,
  sequence number and timestamp on each; never pickle);
* the motors stop when commands stop (watchdog), when a command is stale or malformed,
  when the peer disconnects and on SIGTERM/SIGINT; speeds are clamped before the driver;
* only CURVE-paired hosts drive anything (:mod:`robot_edge.pair`);
* the on-board policy is a numpy forward pass of sha256-checked weights, and a refused
  push keeps the last good version.

Modules: ``protocol`` (wire format), ``server`` (the service), ``backend`` / ``sim`` /
``gopigo3_backend`` (motors and sensors), ``task`` (observation and reward), ``policy``
and ``weights`` (on-device inference), ``keys`` and ``pair`` (CURVE pairing).
"""
