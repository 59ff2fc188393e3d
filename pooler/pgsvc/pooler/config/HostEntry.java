package pgsvc.pooler.config;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * One {@code [hosts]} entry: a PostgreSQL member the router checks and may send service traffic to, written
 * {@code name = host=... [port=...] [cluster=...] [weight=...] [offline=0|1] [noloadbalance=0|1] [patroni_host=...]
 * [patroni_port=...]} in connection-string syntax. The role (primary, replica, ...) is not configured: the health
 * check finds it. Immutable.
 *
 * @param name          the entry's key, used in logs and in {@code SHOW} output
 * @param host          IP address, host name, or a Unix socket directory starting with {@code /}
 * @param port          PostgreSQL port, default 5432
 * @param cluster       the cluster the member belongs to, default {@value #DEFAULT_CLUSTER}
 * @param weight        0..256 as HAProxy's {@code weight}, default 100; a member of weight 0 gets no new connections
 * @param offline       Pigsty's {@code pg_role: offline} or {@code pg_offline_query}: the member serves the
 *                      {@link ServiceRole#OFFLINE} role and is left out of {@link ServiceRole#REPLICA}
 * @param noloadbalance Patroni's tag: never in {@link ServiceRole#REPLICA}
 * @param patroniHost   where Patroni's REST API listens; null means {@code host}
 * @param patroniPort   Patroni's REST port; null means {@code [router] patroni_port}
 * @param parameters    the raw key/value pairs, in file order
 */
public record HostEntry(String name, String host, int port, String cluster, int weight, boolean offline,
        boolean noloadbalance, String patroniHost, Integer patroniPort, Map<String, String> parameters) {

    public static final String DEFAULT_CLUSTER = "default";
    public static final int DEFAULT_PORT = 5432;
    public static final int DEFAULT_WEIGHT = 100;
    /** HAProxy's maximum server weight. */
    public static final int MAX_WEIGHT = 256;

    public static final Set<String> KEYS = Set.of("host", "port", "cluster", "weight", "offline", "noloadbalance",
            "patroni_host", "patroni_port");

    /** Host names, IPv4 and IPv6 addresses (with an optional {@code %zone}): no blanks, commas or brackets. */
    private static final Pattern NETWORK_HOST = Pattern.compile("[A-Za-z0-9._:%-]+");

    public HostEntry {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(cluster, "cluster");
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("invalid port: " + port);
        }
        if (weight < 0 || weight > MAX_WEIGHT) {
            throw new IllegalArgumentException("invalid weight: " + weight);
        }
        if (patroniPort != null && (patroniPort <= 0 || patroniPort > 65535)) {
            throw new IllegalArgumentException("invalid patroni_port: " + patroniPort);
        }
        parameters = Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
    }

    /**
     * Parses the value of {@code name = <connstr>}.
     *
     * @throws IllegalArgumentException with the problem, e.g. {@code unrecognized host parameter: foo}
     */
    public static HostEntry parse(String name, String connstr) {
        Map<String, String> params = ConnectionString.parse(connstr);
        for (String key : params.keySet()) {
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException("unrecognized host parameter: " + key);
            }
        }
        String host = params.get("host");
        if (host == null) {
            throw new IllegalArgumentException("host was not provided for [hosts] entry " + name);
        }
        if (!isUnixSocket(host) && !NETWORK_HOST.matcher(host).matches()) {
            throw new IllegalArgumentException("invalid value \"" + host + "\" for host: expected an IP address, "
                    + "a host name or a Unix socket directory starting with /");
        }
        String patroniHost = params.get("patroni_host");
        if (patroniHost != null && !NETWORK_HOST.matcher(patroniHost).matches()) {
            throw new IllegalArgumentException("invalid value \"" + patroniHost + "\" for patroni_host: expected an "
                    + "IP address or a host name");
        }
        Integer patroniPort = params.containsKey("patroni_port") ? EntryValues.port(params, "patroni_port", 0) : null;
        return new HostEntry(name, host, EntryValues.port(params, DEFAULT_PORT),
                params.getOrDefault("cluster", DEFAULT_CLUSTER),
                EntryValues.bounded(params, "weight", DEFAULT_WEIGHT, 0, MAX_WEIGHT),
                EntryValues.flag(params, "offline"), EntryValues.flag(params, "noloadbalance"),
                patroniHost, patroniPort, params);
    }

    /** True when {@code host} is a Unix socket directory, which only a SQL check can reach. */
    public static boolean isUnixSocket(String host) {
        return host.startsWith("/");
    }

    /** Where to ask Patroni: {@code patroni_host}, else {@code host}. */
    public String patroniHostOrHost() {
        return patroniHost != null ? patroniHost : host;
    }

    /** Patroni's REST port: this entry's {@code patroni_port}, else {@code routerDefault}. */
    public int patroniPortOr(int routerDefault) {
        return patroniPort != null ? patroniPort : routerDefault;
    }
}
