package pgsvc.pooler.config;

import java.util.Locale;

/**
 * Which members of a cluster a service sends connections to: the {@code role} and {@code backup} keys of a
 * {@code [services]} entry. The router decides membership from live health checks, never from the file, so a
 * switchover needs no reload (Pigsty's selectors read the inventory and do). Only healthy members (risen, not fallen)
 * are ever candidates; the sets below may overlap, and the primary is in none of them except {@link #PRIMARY} and
 * {@link #ANY}.
 *
 * <p>Pigsty's four default services are {@code primary = role=primary}, {@code replica = role=replica
 * backup=primary}, {@code default = role=primary dest=postgres} and {@code offline = role=offline backup=replica
 * dest=postgres}.
 */
public enum ServiceRole {
    /** The writable member: not in recovery ({@code pg_is_in_recovery()} false; Patroni's {@code /primary}). */
    PRIMARY,
    /**
     * Streaming replicas that are neither tagged {@code offline=1} nor {@code noloadbalance=1} in {@code [hosts]}:
     * the members for ordinary read traffic.
     */
    REPLICA,
    /**
     * Members tagged {@code offline=1} in {@code [hosts]}, whatever their non-primary role (replica, standby, delayed):
     * the place for slow analytical and ETL queries. A tagged member that becomes primary leaves this set.
     */
    OFFLINE,
    /**
     * Synchronous standbys: replicas that the primary's {@code pg_stat_replication} lists with {@code sync_state}
     * {@code sync} or {@code quorum}.
     */
    STANDBY,
    /** Replicas that replay late on purpose: {@code recovery_min_apply_delay} greater than 0. */
    DELAYED,
    /** Every healthy member, primary included. */
    ANY;

    /** The name used in the config file. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Case-insensitive lookup; null when the name is not a role. */
    public static ServiceRole fromConfig(String value) {
        for (ServiceRole role : values()) {
            if (Setting.equalsIgnoreAsciiCase(role.configName(), value)) {
                return role;
            }
        }
        return null;
    }
}
