"""Host side of the robot link: the GoPiGo3 Gymnasium env, the edge client, the weight relay.

Importing this package registers ``fsrl/GoPiGo-v0``.
"""

from gymnasium.envs.registration import register, registry

ENV_ID = "fsrl/GoPiGo-v0"

if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="envs.gopigo_bridge.env:GoPiGoEnv", max_episode_steps=200)

__all__ = ["ENV_ID"]
