import type { Config } from '../config.js';
import { type MaintenanceStore, openMaintenance } from '../store/maintenance.js';

export { DataDirBusyError } from '../store/maintenance.js';

export type { AppStats } from '../store/stats.js';
export type { MaintenanceStore };

/** The database the configuration names (DATABASE_URL, else the PGlite data directory), for the CLI's commands. */
export function openMaintenanceStore(config: Config): Promise<MaintenanceStore> {
  return openMaintenance({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
}
