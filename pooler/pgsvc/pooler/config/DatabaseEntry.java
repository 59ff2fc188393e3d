package pgsvc.pooler.config;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One {@code [databases]} entry ({@code src/loader.c parse_database}): where a pgbouncer database lives and how its
 * pools behave. Numbers that are null inherit the {@code [pgbouncer]} value. Immutable.
 */
public final class DatabaseEntry {
    /** The name PgBouncer reserves for its admin console. */
    public static final String CONSOLE_DATABASE = "pgbouncer";

    /** The fallback entry's name: used for any database not listed. */
    public static final String WILDCARD = "*";

    public static final String LOAD_BALANCE_ROUND_ROBIN = "round-robin";
    public static final String LOAD_BALANCE_DISABLE = "disable";

    /** Every key PgBouncer accepts; {@code reserve_pool} is the pre-1.24 spelling of {@code reserve_pool_size}. */
    public static final Set<String> KEYS = Set.of("host", "port", "dbname", "user", "password", "auth_user",
            "auth_query", "auth_dbname", "pool_size", "min_pool_size", "reserve_pool_size", "reserve_pool",
            "pool_mode", "max_db_connections", "max_db_client_connections", "server_lifetime", "load_balance_hosts",
            "connect_query", "client_encoding", "datestyle", "timezone", "application_name", "query_wait_timeout",
            "target_session_attrs");

    /** libpq's target_session_attrs values; pgsvc's addition to [databases], resolved by the router's live view. */
    public static final Set<String> TARGET_SESSION_ATTRS = Set.of("any", "read-write", "read-only", "primary",
            "standby", "prefer-standby");

    private final String name;
    private final boolean autoDatabase;
    private final Map<String, String> parameters;
    private final String host;
    private final List<String> hosts;
    private final int port;
    private final String dbname;
    private final String user;
    private final String password;
    private final String authUser;
    private final String authQuery;
    private final String authDbname;
    private final Integer poolSize;
    private final Integer minPoolSize;
    private final Integer reservePoolSize;
    private final Integer maxDbConnections;
    private final Integer maxDbClientConnections;
    private final PoolMode poolMode;
    private final Integer serverLifetime;
    private final String loadBalanceHosts;
    private final String connectQuery;
    private final String clientEncoding;
    private final String datestyle;
    private final String timezone;
    private final String applicationName;
    private final Integer queryWaitTimeout;
    private final String targetSessionAttrs;

    private DatabaseEntry(String name, Map<String, String> parameters, boolean autoDatabase) {
        for (String key : parameters.keySet()) {
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException("unrecognized connection parameter: " + key);
            }
        }
        this.name = name;
        this.autoDatabase = autoDatabase;
        this.parameters = parameters;
        this.host = parameters.get("host");
        this.hosts = splitHosts(host);
        this.port = EntryValues.port(parameters, 5432);
        String explicitDbname = parameters.get("dbname");
        this.dbname = explicitDbname == null && autoDatabase ? name : explicitDbname;
        this.user = parameters.get("user");
        this.password = parameters.get("password");
        this.authUser = parameters.get("auth_user");
        this.authQuery = parameters.get("auth_query");
        this.authDbname = parameters.get("auth_dbname");
        if (CONSOLE_DATABASE.equals(authDbname)) {
            throw new IllegalArgumentException("cannot use the reserved \"pgbouncer\" database as an auth_dbname");
        }
        this.poolSize = EntryValues.count(parameters, "pool_size");
        this.minPoolSize = EntryValues.count(parameters, "min_pool_size");
        // Both spellings set one variable in PgBouncer, so whichever comes last in the entry wins.
        Integer reserve = null;
        for (String key : parameters.keySet()) {
            if (key.equals("reserve_pool_size") || key.equals("reserve_pool")) {
                reserve = EntryValues.count(parameters, key);
            }
        }
        this.reservePoolSize = reserve;
        this.maxDbConnections = EntryValues.count(parameters, "max_db_connections");
        this.maxDbClientConnections = EntryValues.count(parameters, "max_db_client_connections");
        this.poolMode = EntryValues.poolMode(parameters);
        this.serverLifetime = EntryValues.positiveSeconds(parameters, "server_lifetime");
        String balance = parameters.get("load_balance_hosts");
        if (balance == null) {
            this.loadBalanceHosts = LOAD_BALANCE_ROUND_ROBIN;
        } else if (Setting.equalsIgnoreAsciiCase(balance, LOAD_BALANCE_ROUND_ROBIN)) {
            this.loadBalanceHosts = LOAD_BALANCE_ROUND_ROBIN;
        } else if (Setting.equalsIgnoreAsciiCase(balance, LOAD_BALANCE_DISABLE)) {
            this.loadBalanceHosts = LOAD_BALANCE_DISABLE;
        } else {
            throw new IllegalArgumentException("invalid load_balance_hosts: " + balance);
        }
        this.connectQuery = parameters.get("connect_query");
        this.clientEncoding = parameters.get("client_encoding");
        this.datestyle = parameters.get("datestyle");
        this.timezone = parameters.get("timezone");
        this.applicationName = parameters.get("application_name");
        this.queryWaitTimeout = EntryValues.count(parameters, "query_wait_timeout");
        String attrs = parameters.get("target_session_attrs");
        if (attrs != null && !TARGET_SESSION_ATTRS.contains(attrs)) {
            throw new IllegalArgumentException("invalid target_session_attrs: " + attrs);
        }
        this.targetSessionAttrs = attrs;
    }

    /** libpq-style target_session_attrs for a host list, or null: the entry then uses its hosts as PgBouncer does. */
    public String targetSessionAttrs() {
        return targetSessionAttrs;
    }

    /**
     * Parses the value of {@code name = <connstr>}.
     *
     * @throws IllegalArgumentException with PgBouncer's wording where it has one, e.g.
     *         {@code unrecognized connection parameter: foo}
     */
    public static DatabaseEntry parse(String name, String connstr) {
        if (CONSOLE_DATABASE.equals(name)) {
            throw new IllegalArgumentException("database name \"pgbouncer\" is reserved");
        }
        return new DatabaseEntry(name, ConnectionString.parse(connstr), false);
    }

    /**
     * This {@code *} entry applied to a database that is not listed: same settings, the client's database name as
     * the server database unless the {@code *} entry names one.
     */
    public DatabaseEntry forName(String databaseName) {
        return new DatabaseEntry(databaseName, parameters, true);
    }

    private static List<String> splitHosts(String host) {
        if (host == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (String part : host.split(",", -1)) {
            String h = part.trim();
            if (h.isEmpty()) {
                throw new IllegalArgumentException("invalid host list: \"" + host + "\" has an empty entry");
            }
            out.add(h);
        }
        return Collections.unmodifiableList(out);
    }

    /** True when {@code host} names a Unix socket directory ({@code /dir}) or Linux abstract socket ({@code @name}). */
    public static boolean isUnixSocket(String host) {
        return host == null || host.isEmpty() || host.startsWith("/") || host.startsWith("@");
    }

    /** The entry's name: what clients put in their startup packet. */
    public String name() {
        return name;
    }

    /** True for an entry made from {@code *} for an unlisted database (PgBouncer's autodb). */
    public boolean autoDatabase() {
        return autoDatabase;
    }

    /** The raw key/value pairs, in file order. */
    public Map<String, String> parameters() {
        return parameters;
    }

    /** The raw {@code host} value, or null for the Unix socket in {@code unix_socket_dir}. */
    public String host() {
        return host;
    }

    /**
     * The hosts to connect to in turn; empty means the Unix socket in {@code unix_socket_dir}. An entry starting with
     * {@code /} is a socket directory, one starting with {@code @} an abstract socket.
     */
    public List<String> hosts() {
        return hosts;
    }

    public int port() {
        return port;
    }

    /** The server database name if the entry sets one (always set for a {@code *} specialisation), else null. */
    public String dbname() {
        return dbname;
    }

    /** The database to ask the server for. */
    public String serverDbname() {
        return dbname != null ? dbname : name;
    }

    /** The forced user: when set, every client of this database shares one pool logged in as this user. */
    public String user() {
        return user;
    }

    public boolean hasForcedUser() {
        return user != null;
    }

    /** The forced user's password, or null to take it from the auth file. */
    public String password() {
        return password;
    }

    public String authUser() {
        return authUser;
    }

    public String authQuery() {
        return authQuery;
    }

    public String authDbname() {
        return authDbname;
    }

    public Integer poolSize() {
        return poolSize;
    }

    public Integer minPoolSize() {
        return minPoolSize;
    }

    /** {@code reserve_pool_size}, or its old spelling {@code reserve_pool}. */
    public Integer reservePoolSize() {
        return reservePoolSize;
    }

    public Integer maxDbConnections() {
        return maxDbConnections;
    }

    public Integer maxDbClientConnections() {
        return maxDbClientConnections;
    }

    public PoolMode poolMode() {
        return poolMode;
    }

    /** Seconds; null when unset or 0, which PgBouncer treats as "use server_lifetime". */
    public Integer serverLifetime() {
        return serverLifetime;
    }

    /** {@code round-robin} (the default) or {@code disable}. */
    public String loadBalanceHosts() {
        return loadBalanceHosts;
    }

    public String connectQuery() {
        return connectQuery;
    }

    public String clientEncoding() {
        return clientEncoding;
    }

    public String datestyle() {
        return datestyle;
    }

    public String timezone() {
        return timezone;
    }

    public String applicationName() {
        return applicationName;
    }

    /** Seconds (1.26); 0 means wait forever, null inherits the user's or global value. */
    public Integer queryWaitTimeout() {
        return queryWaitTimeout;
    }

    /**
     * The extra StartupMessage parameters PgBouncer sends to the server for this database, in its order
     * (after {@code database}, which is {@link #serverDbname()}).
     */
    public Map<String, String> startupParameters() {
        Map<String, String> out = new LinkedHashMap<>();
        putIfSet(out, "client_encoding", clientEncoding);
        putIfSet(out, "datestyle", datestyle);
        putIfSet(out, "timezone", timezone);
        putIfSet(out, "application_name", applicationName);
        return Collections.unmodifiableMap(out);
    }

    private static void putIfSet(Map<String, String> out, String key, String value) {
        if (value != null) {
            out.put(key, value);
        }
    }

    @Override
    public String toString() {
        Map<String, String> shown = new LinkedHashMap<>(parameters);
        shown.computeIfPresent("password", (k, v) -> "***");
        return "DatabaseEntry[" + name + " " + shown + "]";
    }
}
