package pgsvc.pooler.config;

import java.util.Locale;

/** How the router learns each member's health and role: the {@code check} key of {@code [router]}. */
public enum CheckMethod {
    /**
     * A PostgreSQL session per member as {@code check_user} to {@code check_dbname}, asking for recovery state, lag,
     * {@code recovery_min_apply_delay} and, on the primary, {@code pg_stat_replication}.
     */
    SQL,
    /** Patroni's REST API on each member ({@code patroni_host}:{@code patroni_port}). */
    PATRONI;

    /** The name used in the config file. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Case-insensitive lookup; null when the name is not a check method. */
    public static CheckMethod fromConfig(String value) {
        for (CheckMethod method : values()) {
            if (Setting.equalsIgnoreAsciiCase(method.configName(), value)) {
                return method;
            }
        }
        return null;
    }
}
