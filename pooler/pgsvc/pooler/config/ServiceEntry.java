package pgsvc.pooler.config;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.StringJoiner;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code [services]} entry: a listening port whose clients go to the members of one cluster that have a given
 * role, Pigsty's HAProxy service. Written {@code name = port=... role=... [backup=...] [dest=...] [balance=...]
 * [max_lag=...] [listen_addr=...] [cluster=...] [maxconn=...]} in connection-string syntax. Immutable.
 *
 * @param name        the entry's key, used in logs and in {@code SHOW} output
 * @param listenAddr  addresses to listen on, in {@code [pgbouncer] listen_addr} syntax; null means that setting
 * @param port        the TCP port, 1..65535, unique among services and different from {@code listen_port}
 * @param role        the members that serve while any of them is healthy
 * @param backup      fallback roles, tried in order when no member of {@code role} nor of an earlier backup role is
 *                    healthy; empty by default. Never contains {@code role} or a role twice
 * @param dest        pooled or direct, default {@link Dest#POOLER}
 * @param balance     default {@link Balance#ROUNDROBIN}
 * @param maxLagBytes replicas further behind the primary than this many bytes of WAL are not candidates (Patroni's
 *                    {@code ?lag=}; the primary is exempt); null means no bound
 * @param cluster     whose {@code [hosts]} members serve, default {@value HostEntry#DEFAULT_CLUSTER}
 * @param maxconn     most client connections at once through this service; 0 (the default) means unlimited
 * @param parameters  the raw key/value pairs, in file order
 */
public record ServiceEntry(String name, String listenAddr, int port, ServiceRole role, List<ServiceRole> backup,
        Dest dest, Balance balance, Long maxLagBytes, String cluster, int maxconn, Map<String, String> parameters) {

    public static final Set<String> KEYS = Set.of("port", "role", "backup", "dest", "balance", "max_lag",
            "listen_addr", "cluster", "maxconn");

    /** PostgreSQL's memory-unit spelling (case-sensitive), as Patroni's {@code ?lag=} accepts it. */
    private static final Pattern BYTES = Pattern.compile("([0-9]+)(kB|MB|GB|TB)?");

    public ServiceEntry {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(dest, "dest");
        Objects.requireNonNull(balance, "balance");
        Objects.requireNonNull(cluster, "cluster");
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("invalid port: " + port);
        }
        if (maxconn < 0) {
            throw new IllegalArgumentException("invalid maxconn: " + maxconn);
        }
        if (maxLagBytes != null && maxLagBytes < 0) {
            throw new IllegalArgumentException("invalid max_lag: " + maxLagBytes);
        }
        backup = List.copyOf(backup);
        parameters = Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
    }

    /**
     * Parses the value of {@code name = <connstr>}.
     *
     * @throws IllegalArgumentException with the problem, e.g. {@code unrecognized service parameter: foo}
     */
    public static ServiceEntry parse(String name, String connstr) {
        Map<String, String> params = ConnectionString.parse(connstr);
        for (String key : params.keySet()) {
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException("unrecognized service parameter: " + key);
            }
        }
        if (!params.containsKey("port")) {
            throw new IllegalArgumentException("port was not provided for service " + name);
        }
        String roleName = params.get("role");
        if (roleName == null) {
            throw new IllegalArgumentException("role was not provided for service " + name);
        }
        ServiceRole role = choice("role", roleName, ServiceRole::fromConfig, ServiceRole.values());
        String destName = params.get("dest");
        String balanceName = params.get("balance");
        String maxLag = params.get("max_lag");
        return new ServiceEntry(name, params.get("listen_addr"), EntryValues.port(params, 0), role,
                backup(params.get("backup"), role),
                destName == null ? Dest.POOLER : choice("dest", destName, Dest::fromConfig, Dest.values()),
                balanceName == null ? Balance.ROUNDROBIN
                        : choice("balance", balanceName, Balance::fromConfig, Balance.values()),
                maxLag == null ? null : parseBytes("max_lag", maxLag),
                params.getOrDefault("cluster", HostEntry.DEFAULT_CLUSTER),
                EntryValues.bounded(params, "maxconn", 0, 0, Integer.MAX_VALUE), params);
    }

    /**
     * A byte count with an optional 1024-based unit {@code kB}, {@code MB}, {@code GB} or {@code TB}, spelled as
     * PostgreSQL and Patroni spell them: {@code 16MB} is 16777216.
     *
     * @throws IllegalArgumentException naming {@code key} when the value is malformed or does not fit in a long
     */
    public static long parseBytes(String key, String value) {
        Matcher m = BYTES.matcher(value);
        if (!m.matches()) {
            throw new IllegalArgumentException("invalid value \"" + value + "\" for " + key + ": expected a number "
                    + "of bytes with an optional unit kB, MB, GB or TB, such as 16MB");
        }
        String unit = m.group(2);
        int shift = unit == null ? 0 : switch (unit) {
            case "kB" -> 10;
            case "MB" -> 20;
            case "GB" -> 30;
            default -> 40;
        };
        try {
            long n = Long.parseLong(m.group(1));
            if (n > Long.MAX_VALUE >> shift) {
                throw new NumberFormatException(value);
            }
            return n << shift;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid value \"" + value + "\" for " + key + ": out of range");
        }
    }

    private static List<ServiceRole> backup(String value, ServiceRole role) {
        if (value == null) {
            return List.of();
        }
        List<ServiceRole> out = new ArrayList<>();
        for (String part : value.split(",", -1)) {
            String item = part.trim();
            ServiceRole r = ServiceRole.fromConfig(item);
            String problem = null;
            if (item.isEmpty()) {
                problem = "empty entry";
            } else if (r == null) {
                problem = "unknown role " + item + " (expected " + names(ServiceRole.values()) + ")";
            } else if (r == role) {
                problem = r.configName() + " is already the service's role";
            } else if (out.contains(r)) {
                problem = r.configName() + " is listed twice";
            }
            if (problem != null) {
                throw new IllegalArgumentException("invalid value \"" + value + "\" for backup: " + problem);
            }
            out.add(r);
        }
        return out;
    }

    private static <E extends Enum<E>> E choice(String key, String value, Function<String, E> lookup, E[] all) {
        E e = lookup.apply(value);
        if (e == null) {
            throw new IllegalArgumentException("invalid value \"" + value + "\" for " + key + ": expected one of "
                    + names(all));
        }
        return e;
    }

    /** Config names of an enum's constants; every config enum here spells them as the lower-case constant name. */
    private static String names(Enum<?>[] all) {
        StringJoiner out = new StringJoiner(", ");
        for (Enum<?> e : all) {
            out.add(e.name().toLowerCase(Locale.ROOT));
        }
        return out.toString();
    }
}
