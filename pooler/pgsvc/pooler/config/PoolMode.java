package pgsvc.pooler.config;

import java.util.Locale;

/** When a server connection goes back to the pool: PgBouncer's {@code pool_mode}. */
public enum PoolMode {
    SESSION,
    TRANSACTION,
    STATEMENT;

    /** The name used in pgbouncer.ini and SHOW output. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Case-insensitive lookup like PgBouncer's {@code cf_set_lookup}; null when the name is not a pool mode. */
    public static PoolMode fromConfig(String value) {
        for (PoolMode mode : values()) {
            if (Setting.equalsIgnoreAsciiCase(mode.configName(), value)) {
                return mode;
            }
        }
        return null;
    }
}
