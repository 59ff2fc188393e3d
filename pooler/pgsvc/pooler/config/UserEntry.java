package pgsvc.pooler.config;

import java.util.Map;
import java.util.Set;

/**
 * One {@code [users]} entry ({@code src/loader.c parse_user}): per-user overrides, which take precedence over the
 * database's and the global values. Null inherits. Timeouts are integer seconds. Immutable.
 */
public final class UserEntry {
    public static final Set<String> KEYS = Set.of("pool_mode", "pool_size", "reserve_pool_size",
            "max_user_connections", "max_user_client_connections", "query_timeout", "idle_transaction_timeout",
            "transaction_timeout", "client_idle_timeout", "query_wait_timeout");

    private final String name;
    private final Map<String, String> parameters;
    private final PoolMode poolMode;
    private final Integer poolSize;
    private final Integer reservePoolSize;
    private final Integer maxUserConnections;
    private final Integer maxUserClientConnections;
    private final Integer queryTimeout;
    private final Integer idleTransactionTimeout;
    private final Integer transactionTimeout;
    private final Integer clientIdleTimeout;
    private final Integer queryWaitTimeout;

    private UserEntry(String name, Map<String, String> parameters) {
        for (String key : parameters.keySet()) {
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException("unrecognized user parameter: " + key);
            }
        }
        this.name = name;
        this.parameters = parameters;
        this.poolMode = EntryValues.poolMode(parameters);
        this.poolSize = EntryValues.count(parameters, "pool_size");
        this.reservePoolSize = EntryValues.count(parameters, "reserve_pool_size");
        this.maxUserConnections = EntryValues.count(parameters, "max_user_connections");
        this.maxUserClientConnections = EntryValues.count(parameters, "max_user_client_connections");
        this.queryTimeout = EntryValues.positiveSeconds(parameters, "query_timeout");
        this.idleTransactionTimeout = EntryValues.positiveSeconds(parameters, "idle_transaction_timeout");
        this.transactionTimeout = EntryValues.positiveSeconds(parameters, "transaction_timeout");
        this.clientIdleTimeout = EntryValues.positiveSeconds(parameters, "client_idle_timeout");
        // Unlike the other timeouts, PgBouncer records that this one was set, so an explicit 0 (wait forever) counts.
        this.queryWaitTimeout = EntryValues.count(parameters, "query_wait_timeout");
    }

    /**
     * Parses the value of {@code username = <settings>}.
     *
     * @throws IllegalArgumentException e.g. {@code unrecognized user parameter: foo}
     */
    public static UserEntry parse(String name, String settings) {
        return new UserEntry(name, ConnectionString.parse(settings));
    }

    public String name() {
        return name;
    }

    public Map<String, String> parameters() {
        return parameters;
    }

    public PoolMode poolMode() {
        return poolMode;
    }

    public Integer poolSize() {
        return poolSize;
    }

    public Integer reservePoolSize() {
        return reservePoolSize;
    }

    public Integer maxUserConnections() {
        return maxUserConnections;
    }

    public Integer maxUserClientConnections() {
        return maxUserClientConnections;
    }

    /** Seconds; null when unset or not positive (PgBouncer then uses the global value). */
    public Integer queryTimeout() {
        return queryTimeout;
    }

    public Integer idleTransactionTimeout() {
        return idleTransactionTimeout;
    }

    public Integer transactionTimeout() {
        return transactionTimeout;
    }

    public Integer clientIdleTimeout() {
        return clientIdleTimeout;
    }

    /** Seconds (1.26); 0 means wait forever, null inherits. */
    public Integer queryWaitTimeout() {
        return queryWaitTimeout;
    }

    @Override
    public String toString() {
        return "UserEntry[" + name + " " + parameters + "]";
    }
}
