from finsig_assets.sensors.landing_sensor import landing_sensor

__all__ = ["landing_sensor"]
