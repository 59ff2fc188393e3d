package pgsvc.pooler.config;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * An immutable snapshot of pgbouncer.ini. {@link #load} validates the whole file, includes and all, and fails on the
 * first problem the way PgBouncer does (so a RELOAD that fails keeps the previous snapshot); a snapshot that exists is
 * therefore always complete and valid.
 *
 * <p>Values are PgBouncer's effective values: defaults for keys the file does not set, enums in canonical spelling,
 * integers in decimal ({@code unix_socket_mode = 0777} reads back as {@code 511}) and times as seconds printed like
 * C's {@code %g}, which is what SHOW CONFIG shows.
 *
 * <p>Besides PgBouncer's sections the file may have pgsvc's own, each optional: the router's {@code [hosts]}
 * ({@link HostEntry}), {@code [services]} ({@link ServiceEntry}) and {@code [router]} ({@link RouterSettings}), and
 * {@code [pgsvc]} ({@link PgsvcSettings}). A file without them loads exactly as PgBouncer would load it, with no
 * hosts, no services, default router settings and no metrics endpoint.
 */
public final class Config {
    private final Path file;
    /** The [pgbouncer] values as written, for {@link #with}. */
    private final Map<Setting, String> raw;
    private final Map<Setting, String> values;
    private final Map<Setting, Long> numbers;
    private final Set<Setting> explicit;
    private final Map<String, DatabaseEntry> databases;
    private final Map<String, UserEntry> users;
    private final Map<Integer, PeerEntry> peers;
    private final Map<String, HostEntry> hosts;
    private final Map<String, ServiceEntry> services;
    private final RouterSettings router;
    private final PgsvcSettings pgsvc;

    private Config(Path file, Map<Setting, String> raw, Set<Setting> explicit, Map<String, DatabaseEntry> databases,
            Map<String, UserEntry> users, Map<Integer, PeerEntry> peers, Map<String, HostEntry> hosts,
            Map<String, ServiceEntry> services, RouterSettings router, PgsvcSettings pgsvc) {
        this.file = file;
        this.pgsvc = pgsvc;
        this.raw = Collections.unmodifiableMap(new HashMap<>(raw));
        this.hosts = Collections.unmodifiableMap(hosts);
        this.services = Collections.unmodifiableMap(services);
        this.router = router;
        this.explicit = Collections.unmodifiableSet(explicit);
        this.databases = Collections.unmodifiableMap(databases);
        this.users = Collections.unmodifiableMap(users);
        this.peers = Collections.unmodifiableMap(peers);
        Map<Setting, String> effective = new HashMap<>();
        Map<Setting, Long> parsed = new HashMap<>();
        for (Setting s : Setting.all()) {
            String value = raw.get(s.storage());
            if (value == null) {
                value = s.storage().defaultValue();
            }
            if (value == null && s == Setting.CONFFILE) {
                value = file.toString();
            }
            switch (s.type()) {
                case INT:
                case UINT:
                case BOOL:
                    long number = value == null ? 0 : Setting.parseCInteger(value);
                    parsed.put(s, number);
                    effective.put(s, Long.toString(number));
                    break;
                case TIME:
                    long micros = Setting.parseMicros(value);
                    parsed.put(s, micros);
                    effective.put(s, formatSeconds(micros));
                    break;
                case ENUM:
                    effective.put(s, s.canonicalChoice(value));
                    break;
                default:
                    effective.put(s, value == null ? "" : value);
                    break;
            }
        }
        this.values = effective;
        this.numbers = parsed;
    }

    /**
     * Reads and validates {@code file}. Relative paths, here and in {@code %include}, are relative to the working
     * directory, as in PgBouncer.
     *
     * @throws ConfigException naming the file and line of the first problem
     */
    public static Config load(Path file) throws ConfigException {
        List<IniParser.Entry> entries = IniParser.parse(file);
        Map<Setting, String> raw = new HashMap<>();
        Set<Setting> explicit = new HashSet<>();
        Map<String, DatabaseEntry> databases = new LinkedHashMap<>();
        Map<String, UserEntry> users = new LinkedHashMap<>();
        Map<Integer, PeerEntry> peers = new LinkedHashMap<>();
        Map<String, HostEntry> hosts = new LinkedHashMap<>();
        Map<String, ServiceEntry> services = new LinkedHashMap<>();
        Map<String, IniParser.Entry> lines = new HashMap<>();
        RouterSettings.Parser router = new RouterSettings.Parser();
        PgsvcSettings.Parser pgsvc = new PgsvcSettings.Parser();
        IniParser.Entry routerHeader = null;
        boolean sawMain = false;

        for (IniParser.Entry e : entries) {
            if (e.isSectionStart()) {
                if (e.section().equals("pgbouncer")) {
                    sawMain = true;
                    // Opening [pgbouncer] re-applies PgBouncer's defaults, which skips keys without one.
                    for (Setting s : Setting.all()) {
                        if (s.defaultValue() != null) {
                            raw.remove(s);
                            explicit.remove(s);
                        }
                    }
                } else if (e.section().equals("router") && routerHeader == null) {
                    routerHeader = e;
                }
                continue;
            }
            try {
                switch (e.section()) {
                    case "pgbouncer":
                        Setting s = Setting.byName(e.key());
                        if (s == null) {
                            throw new ConfigException(e.file(), e.line(), "unknown parameter: " + e.key());
                        }
                        String problem = s.validate(e.value());
                        if (problem != null) {
                            throw new ConfigException(e.file(), e.line(), problem);
                        }
                        raw.put(s.storage(), e.value());
                        explicit.add(s.storage());
                        break;
                    case "databases":
                        databases.put(e.key(), DatabaseEntry.parse(e.key(), e.value()));
                        break;
                    case "users":
                        users.put(e.key(), UserEntry.parse(e.key(), e.value()));
                        break;
                    case "peers":
                        PeerEntry peer = PeerEntry.parse(e.key(), e.value());
                        peers.put(peer.id(), peer);
                        break;
                    case "hosts":
                        // A second definition would silently drop a member, so unlike [databases] it is refused.
                        if (hosts.containsKey(e.key())) {
                            throw new IllegalArgumentException("duplicate host: " + e.key());
                        }
                        hosts.put(e.key(), HostEntry.parse(e.key(), e.value()));
                        lines.put("hosts/" + e.key(), e);
                        break;
                    case "services":
                        if (services.containsKey(e.key())) {
                            throw new IllegalArgumentException("duplicate service: " + e.key());
                        }
                        services.put(e.key(), ServiceEntry.parse(e.key(), e.value()));
                        lines.put("services/" + e.key(), e);
                        break;
                    case "router":
                        router.set(e.key(), e.value());
                        break;
                    case "pgsvc":
                        pgsvc.set(e.key(), e.value());
                        lines.put("pgsvc/" + e.key(), e);
                        break;
                    default:
                        throw new ConfigException(e.file(), e.line(), "unknown section: " + e.section());
                }
            } catch (IllegalArgumentException ex) {
                throw new ConfigException(e.file(), e.line(), ex.getMessage());
            }
        }
        if (!sawMain) {
            throw new ConfigException(file, "main section missing");
        }
        Config config = new Config(file, raw, explicit, databases, users, peers, hosts, services, router.build(),
                pgsvc.build());
        config.checkRouter(lines, routerHeader);
        config.checkPgsvc(lines);
        return config;
    }

    /**
     * Checks what no single line can: that every service has members and a port of its own, and that the members can
     * be checked. {@code lines} gives the entry of {@code hosts/<name>} and {@code services/<name>}.
     */
    private void checkRouter(Map<String, IniParser.Entry> lines, IniParser.Entry routerHeader)
            throws ConfigException {
        Map<String, String> addresses = new HashMap<>();
        for (HostEntry h : hosts.values()) {
            IniParser.Entry at = lines.get("hosts/" + h.name());
            String address = h.cluster() + " " + h.host() + ":" + h.port();
            String other = addresses.putIfAbsent(address, h.name());
            if (other != null) {
                throw new ConfigException(at.file(), at.line(), "hosts " + other + " and " + h.name() + " are both "
                        + h.host() + ":" + h.port() + " in cluster " + h.cluster());
            }
            if (router.check() == CheckMethod.PATRONI && HostEntry.isUnixSocket(h.patroniHostOrHost())) {
                throw new ConfigException(at.file(), at.line(), "host " + h.name()
                        + ": patroni checks need a TCP address, set patroni_host");
            }
        }
        if (!hosts.isEmpty() && router.check() == CheckMethod.SQL && router.checkUser() == null) {
            IniParser.Entry at = routerHeader != null ? routerHeader
                    : lines.get("hosts/" + hosts.keySet().iterator().next());
            throw new ConfigException(at.file(), at.line(), "check_user is required for sql health checks");
        }
        Map<Integer, String> ports = new HashMap<>();
        for (ServiceEntry svc : services.values()) {
            IniParser.Entry at = lines.get("services/" + svc.name());
            if (hosts.isEmpty()) {
                throw new ConfigException(at.file(), at.line(), "[services] needs [hosts]: no host is defined");
            }
            if (svc.port() == listenPort()) {
                throw new ConfigException(at.file(), at.line(), "service " + svc.name() + ": port " + svc.port()
                        + " is the listen_port of [pgbouncer]");
            }
            String other = ports.putIfAbsent(svc.port(), svc.name());
            if (other != null) {
                throw new ConfigException(at.file(), at.line(), "services " + other + " and " + svc.name()
                        + " both use port " + svc.port());
            }
            boolean clusterHasHost = false;
            for (HostEntry h : hosts.values()) {
                clusterHasHost |= h.cluster().equals(svc.cluster());
            }
            if (!clusterHasHost) {
                throw new ConfigException(at.file(), at.line(), "service " + svc.name() + ": no host in cluster "
                        + svc.cluster());
            }
        }
    }

    /** The metrics port must not be one a pooler or service listener takes. */
    private void checkPgsvc(Map<String, IniParser.Entry> lines) throws ConfigException {
        int port = pgsvc.metricsPort();
        if (port == 0) {
            return;
        }
        IniParser.Entry at = lines.get("pgsvc/metrics_port");
        if (port == listenPort()) {
            throw new ConfigException(at.file(), at.line(), "metrics_port " + port
                    + " is the listen_port of [pgbouncer]");
        }
        for (ServiceEntry svc : services.values()) {
            if (svc.port() == port) {
                throw new ConfigException(at.file(), at.line(), "metrics_port " + port + " is the port of service "
                        + svc.name());
            }
        }
    }

    /** The file this snapshot was loaded from. */
    public Path file() {
        return file;
    }

    /**
     * This snapshot with one [pgbouncer] key set, as the console's {@code SET key = value} sets it: the value is
     * checked as a line of the file would be, and everything else stays as it is. A new {@code conffile} is the file
     * the next RELOAD reads.
     *
     * @throws IllegalArgumentException for an unknown key or a bad value, with PgBouncer's reason
     */
    public Config with(String key, String value) {
        Setting s = setting(key);
        String problem = s.validate(value);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        Map<Setting, String> nextRaw = new HashMap<>(raw);
        nextRaw.put(s.storage(), value);
        Set<Setting> nextExplicit = new HashSet<>(explicit);
        nextExplicit.add(s.storage());
        Path nextFile = s == Setting.CONFFILE ? IniParser.resolveAgainstCwd(value) : file;
        return new Config(nextFile, nextRaw, nextExplicit, databases, users, peers, hosts, services, router, pgsvc);
    }

    private static Setting setting(String key) {
        Setting s = Setting.byName(key);
        if (s == null) {
            throw new IllegalArgumentException("unknown parameter: " + key);
        }
        return s;
    }

    private static Setting setting(String key, Setting.Type... types) {
        Setting s = setting(key);
        for (Setting.Type t : types) {
            if (s.type() == t) {
                return s;
            }
        }
        throw new IllegalArgumentException(key + " is a " + s.type() + " setting");
    }

    /** The effective value as SHOW CONFIG shows it; "" for a string without value. */
    public String get(String key) {
        return values.get(setting(key));
    }

    /** An INT, UINT or BOOL value; {@code max_packet_size} is better read with {@link #getLong}. */
    public int getInt(String key) {
        return Math.toIntExact(numbers.get(setting(key, Setting.Type.INT, Setting.Type.UINT, Setting.Type.BOOL)));
    }

    public long getLong(String key) {
        return numbers.get(setting(key, Setting.Type.INT, Setting.Type.UINT, Setting.Type.BOOL));
    }

    /** A TIME value in microseconds. */
    public long getMicros(String key) {
        return numbers.get(setting(key, Setting.Type.TIME));
    }

    /** A BOOL value: anything but 0 is true, as in PgBouncer. */
    public boolean getBool(String key) {
        return numbers.get(setting(key, Setting.Type.BOOL)) != 0;
    }

    /** A comma-separated value split and trimmed, empty items dropped; empty value gives an empty list. */
    public List<String> getList(String key) {
        List<String> out = new ArrayList<>();
        for (String item : get(key).split(",")) {
            String trimmed = item.trim();
            if (!trimmed.isEmpty()) {
                out.add(trimmed);
            }
        }
        return Collections.unmodifiableList(out);
    }

    /** True when the file sets the key (in the last {@code [pgbouncer]} block for keys that have a default). */
    public boolean isSet(String key) {
        return explicit.contains(setting(key).storage());
    }

    /** TCP listen addresses; {@code *} means all; empty means Unix socket only. */
    public List<String> listenAddrs() {
        return getList("listen_addr");
    }

    public int listenPort() {
        return getInt("listen_port");
    }

    /** "" disables the Unix socket; a leading {@code @} is a Linux abstract namespace. */
    public String unixSocketDir() {
        return get("unix_socket_dir");
    }

    public PoolMode poolMode() {
        return PoolMode.fromConfig(get("pool_mode"));
    }

    public int maxClientConn() {
        return getInt("max_client_conn");
    }

    /** 0 means unlimited (PgBouncer 1.24+). */
    public int defaultPoolSize() {
        return getInt("default_pool_size");
    }

    /** Lower-case: any, trust, plain, md5, cert, hba, ldap, pam or scram-sha-256. */
    public String authType() {
        return get("auth_type").toLowerCase(Locale.ROOT);
    }

    /** The auth file resolved against the working directory, or null when none is configured. */
    public Path authFile() {
        String value = get("auth_file");
        return value.isEmpty() ? null : IniParser.resolveAgainstCwd(value);
    }

    public List<String> adminUsers() {
        return getList("admin_users");
    }

    public List<String> statsUsers() {
        return getList("stats_users");
    }

    /** Lower-case, because startup parameter names are matched case-insensitively. */
    public Set<String> ignoreStartupParameters() {
        Set<String> out = new LinkedHashSet<>();
        for (String item : getList("ignore_startup_parameters")) {
            out.add(item.toLowerCase(Locale.ROOT));
        }
        return Collections.unmodifiableSet(out);
    }

    /** "" means no reset query. */
    public String serverResetQuery() {
        return get("server_reset_query");
    }

    public boolean serverResetQueryAlways() {
        return getBool("server_reset_query_always");
    }

    /** "" means no log file. */
    public String logfile() {
        return get("logfile");
    }

    /** "" means no pid file. */
    public String pidfile() {
        return get("pidfile");
    }

    public int verbose() {
        return getInt("verbose");
    }

    public long maxPacketSize() {
        return getLong("max_packet_size");
    }

    public int listenBacklog() {
        return getInt("listen_backlog");
    }

    public boolean soReuseport() {
        return getBool("so_reuseport");
    }

    /** All {@code [databases]} entries in file order, including {@code *} if present. */
    public Map<String, DatabaseEntry> databases() {
        return databases;
    }

    /**
     * The entry for a client's database: the exact entry, else the {@code *} entry specialised for {@code name},
     * else null. Null for {@code pgbouncer}, which is the admin console and never a server database.
     */
    public DatabaseEntry database(String name) {
        if (DatabaseEntry.CONSOLE_DATABASE.equals(name)) {
            return null;
        }
        DatabaseEntry exact = databases.get(name);
        if (exact != null) {
            return exact;
        }
        DatabaseEntry wildcard = databases.get(DatabaseEntry.WILDCARD);
        return wildcard == null ? null : wildcard.forName(name);
    }

    /** All {@code [users]} entries in file order. */
    public Map<String, UserEntry> users() {
        return users;
    }

    /** All {@code [peers]} entries by peer id, in file order. */
    public Map<Integer, PeerEntry> peers() {
        return peers;
    }

    /** All {@code [hosts]} entries in file order; empty when the router is off. */
    public Map<String, HostEntry> hosts() {
        return hosts;
    }

    /** All {@code [services]} entries in file order. */
    public Map<String, ServiceEntry> services() {
        return services;
    }

    /** The {@code [router]} settings, {@link RouterSettings#DEFAULTS} where the file sets none. */
    public RouterSettings router() {
        return router;
    }

    /** The {@code [pgsvc]} settings, {@link PgsvcSettings#DEFAULTS} where the file sets none. */
    public PgsvcSettings pgsvc() {
        return pgsvc;
    }

    /** True when {@code [hosts]} lists at least one member, i.e. there is something to health-check and route to. */
    public boolean hasRouter() {
        return !hosts.isEmpty();
    }

    /** Seconds as C's {@code printf("%g")} prints them, which is how PgBouncer shows times. */
    static String formatSeconds(long micros) {
        if (micros == 0) {
            return "0";
        }
        BigDecimal rounded = BigDecimal.valueOf(micros).movePointLeft(6)
                .round(new MathContext(6, RoundingMode.HALF_EVEN));
        int exponent = rounded.precision() - rounded.scale() - 1;
        if (exponent < -4 || exponent >= 6) {
            String mantissa = rounded.movePointLeft(exponent).stripTrailingZeros().toPlainString();
            return mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format("%02d", Math.abs(exponent));
        }
        return rounded.stripTrailingZeros().toPlainString();
    }
}
