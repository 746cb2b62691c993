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

Modules: ``protocol`` (wire format); the service: ``server`` (wiring, loop, CLI),
``config`` (settings), ``transport`` (CURVE / plain-text socket), ``sessions`` (sequence
numbers, clock offsets), ``handlers`` (one request -> one reply), ``motors`` (clamping,
stops, watchdog), ``onboard`` (the installed policy, ACT, episodes); ``backend`` /
``backends`` / ``sim`` / ``gopigo3_backend`` (motors and sensors); ``task`` (observation
and reward); ``weights`` (fsrl's one safetensors codec) and ``policy`` (the one numpy
forward pass), used by the host, actors and relay too; ``keys`` and ``pair`` (CURVE).

Installed on the Pi as its own distribution, ``fsrl-edge`` (``pip install ./robot_edge``).
"""
