"""Workers: each worker process's heartbeat, and a dead worker's runs taken over by a live one."""
