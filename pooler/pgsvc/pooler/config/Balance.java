package pgsvc.pooler.config;

import java.util.Locale;

/** How a service spreads new connections over its candidates: the {@code balance} key, named as in HAProxy. */
public enum Balance {
    /** In turn, in proportion to each member's {@code weight}. */
    ROUNDROBIN,
    /** To the member with the fewest connections from this service, relative to its {@code weight}. */
    LEASTCONN,
    /** To a member picked at random, in proportion to its {@code weight}. */
    RANDOM;

    /** The name used in the config file. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Case-insensitive lookup; null when the name is not a balance algorithm. */
    public static Balance fromConfig(String value) {
        for (Balance balance : values()) {
            if (Setting.equalsIgnoreAsciiCase(balance.configName(), value)) {
                return balance;
            }
        }
        return null;
    }
}
