package pgsvc.pooler.config;

import java.util.Locale;

/**
 * Where a service hands a client: the {@code dest} key of a {@code [services]} entry. Pigsty's {@code pgbouncer} and
 * {@code postgres} destinations, with pgsvc itself as the pooler.
 */
public enum Dest {
    /** Through this process's pools (pool modes, auth, limits as on {@code listen_port}) to the chosen member. */
    POOLER,
    /** The chosen member's PostgreSQL port directly, byte for byte, with no pooling. */
    POSTGRES;

    /** The name used in the config file. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Case-insensitive lookup; null when the name is not a destination. */
    public static Dest fromConfig(String value) {
        for (Dest dest : values()) {
            if (Setting.equalsIgnoreAsciiCase(dest.configName(), value)) {
                return dest;
            }
        }
        return null;
    }
}
