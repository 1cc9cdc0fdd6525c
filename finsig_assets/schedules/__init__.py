from finsig_assets.schedules.session_close import session_close_schedule

__all__ = ["session_close_schedule"]
