from finsig_assets.sensors.dead_run_cleanup import dead_run_cleanup
from finsig_assets.sensors.landing_sensor import landing_sensor

__all__ = ["dead_run_cleanup", "landing_sensor"]
