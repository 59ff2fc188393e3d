package pgsvc.pooler.config;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Every key of the {@code [pgbouncer]} section, with PgBouncer's default, value type and reloadability
 * ({@code bouncer_params[]} in {@code src/main.c}, plus the 1.26 additions). {@link #all()} is in PgBouncer's
 * alphabetical order, which is also the row order of {@code SHOW CONFIG}.
 *
 * <p>Value syntax follows libusual's setters, because a drop-in must accept exactly the files PgBouncer accepts:
 * integers are C {@code strtol(s, 0)} (so {@code 0777} is octal and {@code 0x1F} hex), times are float seconds with
 * no unit suffix, booleans are integers ({@code on}/{@code yes} are refused), enums are case-insensitive.
 */
public final class Setting {

    /** How a value is parsed. */
    public enum Type {
        /** C int, strtol base 0. */
        INT,
        /** C unsigned int, strtoul base 0 (only {@code max_packet_size}). */
        UINT,
        /** Float seconds, stored as microseconds; negative values and unit suffixes are refused. */
        TIME,
        /** Any text, kept verbatim. */
        STRING,
        /** One of {@link #allowedValues()}, case-insensitive; the effective value is the canonical spelling. */
        ENUM,
        /** An int used as a flag: 0 is off, anything else on. Words such as {@code on} are refused. */
        BOOL
    }

    private static final Map<String, Setting> BY_NAME = new LinkedHashMap<>();

    private static final List<String> AUTH_TYPES =
            List.of("any", "trust", "plain", "md5", "cert", "hba", "ldap", "pam", "scram-sha-256");
    private static final List<String> POOL_MODES = List.of("session", "transaction", "statement");
    private static final List<String> SSL_MODES =
            List.of("disable", "allow", "prefer", "require", "verify-ca", "verify-full");
    private static final boolean RELOAD = true;
    private static final boolean NO_RELOAD = false;

    public static final Setting ADMIN_USERS = str("admin_users", "", RELOAD);
    public static final Setting APPLICATION_NAME_ADD_HOST = of("application_name_add_host", Type.BOOL, "0", RELOAD);
    public static final Setting AUTH_DBNAME = str("auth_dbname", null, RELOAD);
    public static final Setting AUTH_FILE = str("auth_file", null, RELOAD);
    public static final Setting AUTH_HBA_FILE = str("auth_hba_file", "", RELOAD);
    public static final Setting AUTH_IDENT_FILE = str("auth_ident_file", null, RELOAD);
    public static final Setting AUTH_LDAP_OPTIONS = str("auth_ldap_options", null, RELOAD);
    public static final Setting AUTH_QUERY = str("auth_query", "SELECT rolname, CASE WHEN rolvaliduntil < now() "
            + "THEN NULL ELSE rolpassword END FROM pg_authid WHERE rolname=$1 AND rolcanlogin", RELOAD);
    public static final Setting AUTH_TYPE = choice("auth_type", AUTH_TYPES, "md5", RELOAD);
    public static final Setting AUTH_USER = str("auth_user", null, RELOAD);
    public static final Setting AUTODB_IDLE_TIMEOUT = of("autodb_idle_timeout", Type.TIME, "3600", RELOAD);
    public static final Setting CANCEL_WAIT_TIMEOUT = of("cancel_wait_timeout", Type.TIME, "10", RELOAD);
    public static final Setting CLIENT_IDLE_TIMEOUT = of("client_idle_timeout", Type.TIME, "0", RELOAD);
    public static final Setting CLIENT_LOGIN_TIMEOUT = of("client_login_timeout", Type.TIME, "60", RELOAD);
    public static final Setting CLIENT_TLS13_CIPHERS = str("client_tls13_ciphers", null, RELOAD);
    public static final Setting CLIENT_TLS_CA_FILE = str("client_tls_ca_file", "", RELOAD);
    public static final Setting CLIENT_TLS_CERT_FILE = str("client_tls_cert_file", "", RELOAD);
    public static final Setting CLIENT_TLS_CIPHERS = str("client_tls_ciphers", "default", RELOAD);
    public static final Setting CLIENT_TLS_DHEPARAMS = str("client_tls_dheparams", "auto", RELOAD);
    public static final Setting CLIENT_TLS_ECDHCURVE = str("client_tls_ecdhcurve", "auto", RELOAD);
    public static final Setting CLIENT_TLS_KEY_FILE = str("client_tls_key_file", "", RELOAD);
    public static final Setting CLIENT_TLS_PROTOCOLS = str("client_tls_protocols", "secure", RELOAD);
    public static final Setting CLIENT_TLS_SSLMODE = choice("client_tls_sslmode", SSL_MODES, "disable", RELOAD);
    /** Defaults to the file given on the command line, which PgBouncer shows as the value. */
    public static final Setting CONFFILE = str("conffile", null, RELOAD);
    public static final Setting DEFAULT_POOL_SIZE = of("default_pool_size", Type.INT, "20", RELOAD);
    public static final Setting DISABLE_PQEXEC = of("disable_pqexec", Type.BOOL, "0", NO_RELOAD);
    public static final Setting DNS_MAX_TTL = of("dns_max_ttl", Type.TIME, "15", RELOAD);
    public static final Setting DNS_NXDOMAIN_TTL = of("dns_nxdomain_ttl", Type.TIME, "15", RELOAD);
    public static final Setting DNS_ZONE_CHECK_PERIOD = of("dns_zone_check_period", Type.TIME, "0", RELOAD);
    public static final Setting IDLE_TRANSACTION_TIMEOUT = of("idle_transaction_timeout", Type.TIME, "0", RELOAD);
    public static final Setting IGNORE_STARTUP_PARAMETERS = str("ignore_startup_parameters", "", RELOAD);
    public static final Setting JOB_NAME = str("job_name", "pgbouncer", NO_RELOAD);
    public static final Setting LISTEN_ADDR = str("listen_addr", "", NO_RELOAD);
    public static final Setting LISTEN_BACKLOG = of("listen_backlog", Type.INT, "128", NO_RELOAD);
    public static final Setting LISTEN_PORT = of("listen_port", Type.INT, "6432", NO_RELOAD);
    public static final Setting LOG_CONNECTIONS = of("log_connections", Type.BOOL, "1", RELOAD);
    public static final Setting LOG_DISCONNECTIONS = of("log_disconnections", Type.BOOL, "1", RELOAD);
    public static final Setting LOG_POOLER_ERRORS = of("log_pooler_errors", Type.BOOL, "1", RELOAD);
    public static final Setting LOG_STATS = of("log_stats", Type.BOOL, "1", RELOAD);
    public static final Setting LOGFILE = str("logfile", "", RELOAD);
    public static final Setting LOGIN_NOTIFY_MESSAGE = str("login_notify_message", "", RELOAD);
    public static final Setting MAX_CLIENT_CONN = of("max_client_conn", Type.INT, "100", RELOAD);
    public static final Setting MAX_DB_CLIENT_CONNECTIONS = of("max_db_client_connections", Type.INT, "0", RELOAD);
    public static final Setting MAX_DB_CONNECTIONS = of("max_db_connections", Type.INT, "0", RELOAD);
    public static final Setting MAX_PACKET_SIZE = of("max_packet_size", Type.UINT, "2147483647", RELOAD);
    public static final Setting MAX_PREPARED_STATEMENTS = of("max_prepared_statements", Type.INT, "200", RELOAD);
    public static final Setting MAX_USER_CLIENT_CONNECTIONS =
            of("max_user_client_connections", Type.INT, "0", RELOAD);
    public static final Setting MAX_USER_CONNECTIONS = of("max_user_connections", Type.INT, "0", RELOAD);
    public static final Setting MIN_POOL_SIZE = of("min_pool_size", Type.INT, "0", RELOAD);
    public static final Setting PEER_ID = of("peer_id", Type.INT, "0", RELOAD);
    public static final Setting PIDFILE = str("pidfile", "", NO_RELOAD);
    public static final Setting PKT_BUF = of("pkt_buf", Type.INT, "4096", NO_RELOAD);
    public static final Setting POOL_IDLE_TIMEOUT = of("pool_idle_timeout", Type.TIME, "0", RELOAD);
    public static final Setting POOL_MODE = choice("pool_mode", POOL_MODES, "session", RELOAD);
    public static final Setting QUERY_TIMEOUT = of("query_timeout", Type.TIME, "0", RELOAD);
    public static final Setting QUERY_WAIT_NOTIFY = of("query_wait_notify", Type.INT, "5", RELOAD);
    public static final Setting QUERY_WAIT_TIMEOUT = of("query_wait_timeout", Type.TIME, "120", RELOAD);
    public static final Setting RESERVE_POOL_SIZE = of("reserve_pool_size", Type.INT, "0", RELOAD);
    public static final Setting RESERVE_POOL_TIMEOUT = of("reserve_pool_timeout", Type.TIME, "5", RELOAD);
    public static final Setting RESOLV_CONF = str("resolv_conf", "", NO_RELOAD);
    public static final Setting SBUF_LOOPCNT = of("sbuf_loopcnt", Type.INT, "5", RELOAD);
    public static final Setting SCRAM_ITERATIONS = of("scram_iterations", Type.INT, "4096", RELOAD);
    public static final Setting SERVER_CHECK_DELAY = of("server_check_delay", Type.TIME, "30", RELOAD);
    /** {@code <empty>} means: send an empty query; an empty string disables the check. */
    public static final Setting SERVER_CHECK_QUERY = str("server_check_query", "<empty>", RELOAD);
    public static final Setting SERVER_CONNECT_TIMEOUT = of("server_connect_timeout", Type.TIME, "15", RELOAD);
    public static final Setting SERVER_FAST_CLOSE = of("server_fast_close", Type.BOOL, "0", RELOAD);
    public static final Setting SERVER_IDLE_TIMEOUT = of("server_idle_timeout", Type.TIME, "600", RELOAD);
    public static final Setting SERVER_LIFETIME = of("server_lifetime", Type.TIME, "3600", RELOAD);
    public static final Setting SERVER_LOGIN_RETRY = of("server_login_retry", Type.TIME, "15", RELOAD);
    public static final Setting SERVER_RESET_QUERY = str("server_reset_query", "DISCARD ALL", RELOAD);
    public static final Setting SERVER_RESET_QUERY_ALWAYS = of("server_reset_query_always", Type.BOOL, "0", RELOAD);
    public static final Setting SERVER_ROUND_ROBIN = of("server_round_robin", Type.BOOL, "0", RELOAD);
    public static final Setting SERVER_TLS13_CIPHERS = str("server_tls13_ciphers", null, RELOAD);
    public static final Setting SERVER_TLS_CA_FILE = str("server_tls_ca_file", "", RELOAD);
    public static final Setting SERVER_TLS_CERT_FILE = str("server_tls_cert_file", "", RELOAD);
    public static final Setting SERVER_TLS_CIPHERS = str("server_tls_ciphers", "default", RELOAD);
    public static final Setting SERVER_TLS_KEY_FILE = str("server_tls_key_file", "", RELOAD);
    public static final Setting SERVER_TLS_PROTOCOLS = str("server_tls_protocols", "secure", RELOAD);
    public static final Setting SERVER_TLS_SSLMODE = choice("server_tls_sslmode", SSL_MODES, "prefer", RELOAD);
    /** Windows-only in PgBouncer; the same variable as {@code job_name}, so setting one sets the other. */
    public static final Setting SERVICE_NAME = str("service_name", null, NO_RELOAD);
    public static final Setting SO_REUSEPORT = of("so_reuseport", Type.BOOL, "0", NO_RELOAD);
    public static final Setting STATS_PERIOD = of("stats_period", Type.INT, "60", RELOAD);
    public static final Setting STATS_USERS = str("stats_users", "", RELOAD);
    public static final Setting SUSPEND_TIMEOUT = of("suspend_timeout", Type.TIME, "10", RELOAD);
    public static final Setting SYSLOG = of("syslog", Type.BOOL, "0", RELOAD);
    public static final Setting SYSLOG_FACILITY = str("syslog_facility", "daemon", RELOAD);
    public static final Setting SYSLOG_IDENT = str("syslog_ident", "pgbouncer", RELOAD);
    /** PgBouncer's default is 1 where TCP_DEFER_ACCEPT exists (Linux), 0 elsewhere. */
    public static final Setting TCP_DEFER_ACCEPT = of("tcp_defer_accept", Type.BOOL, "1", RELOAD);
    public static final Setting TCP_KEEPALIVE = of("tcp_keepalive", Type.BOOL, "1", RELOAD);
    public static final Setting TCP_KEEPCNT = of("tcp_keepcnt", Type.INT, "0", RELOAD);
    public static final Setting TCP_KEEPIDLE = of("tcp_keepidle", Type.INT, "0", RELOAD);
    public static final Setting TCP_KEEPINTVL = of("tcp_keepintvl", Type.INT, "0", RELOAD);
    public static final Setting TCP_SOCKET_BUFFER = of("tcp_socket_buffer", Type.INT, "0", RELOAD);
    /** Milliseconds, unlike every other timeout. */
    public static final Setting TCP_USER_TIMEOUT = of("tcp_user_timeout", Type.INT, "0", RELOAD);
    public static final Setting TRACK_EXTRA_PARAMETERS = str("track_extra_parameters", "IntervalStyle", NO_RELOAD);
    public static final Setting TRANSACTION_TIMEOUT = of("transaction_timeout", Type.TIME, "0", RELOAD);
    public static final Setting UNIX_SOCKET_DIR = str("unix_socket_dir", "/tmp", NO_RELOAD);
    public static final Setting UNIX_SOCKET_GROUP = str("unix_socket_group", "", NO_RELOAD);
    public static final Setting UNIX_SOCKET_MODE = of("unix_socket_mode", Type.INT, "0777", NO_RELOAD);
    public static final Setting USER = str("user", null, NO_RELOAD);
    public static final Setting VERBOSE = of("verbose", Type.INT, null, RELOAD);

    private static final List<Setting> ALL = Collections.unmodifiableList(new ArrayList<>(BY_NAME.values()));

    private static final Pattern TIME_SYNTAX = Pattern.compile("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?");

    private final String name;
    private final Type type;
    private final String defaultValue;
    private final boolean reloadable;
    private final List<String> allowedValues;

    private Setting(String name, Type type, String defaultValue, boolean reloadable, List<String> allowedValues) {
        this.name = name;
        this.type = type;
        this.defaultValue = defaultValue;
        this.reloadable = reloadable;
        this.allowedValues = allowedValues;
    }

    private static Setting of(String name, Type type, String defaultValue, boolean reloadable) {
        return register(new Setting(name, type, defaultValue, reloadable, List.of()));
    }

    private static Setting str(String name, String defaultValue, boolean reloadable) {
        return of(name, Type.STRING, defaultValue, reloadable);
    }

    private static Setting choice(String name, List<String> values, String defaultValue, boolean reloadable) {
        return register(new Setting(name, Type.ENUM, defaultValue, reloadable, values));
    }

    /**
     * A key of another section ({@code [router]}) parsed and validated by these same rules, so its errors read alike;
     * not registered, so it is neither in {@link #all()} nor found by {@link #byName}.
     */
    static Setting unlisted(String name, Type type, String defaultValue, List<String> allowedValues) {
        return new Setting(name, type, defaultValue, RELOAD, allowedValues);
    }

    private static Setting register(Setting setting) {
        if (BY_NAME.put(setting.name, setting) != null) {
            throw new IllegalStateException("duplicate setting " + setting.name);
        }
        return setting;
    }

    /** All settings in SHOW CONFIG order. */
    public static List<Setting> all() {
        return ALL;
    }

    /** The setting called exactly {@code name} (keys are case-sensitive, as in PgBouncer), or null. */
    public static Setting byName(String name) {
        return BY_NAME.get(name);
    }

    /** The key as written in pgbouncer.ini. */
    public String name() {
        return name;
    }

    public Type type() {
        return type;
    }

    /**
     * PgBouncer's default, verbatim (e.g. {@code 0777}, {@code DISCARD ALL}, {@code <empty>}); null where PgBouncer has
     * no default (its SHOW CONFIG shows NULL), e.g. {@code auth_file}, {@code auth_user}, {@code verbose}.
     */
    public String defaultValue() {
        return defaultValue;
    }

    /** False for PgBouncer's CF_NO_RELOAD keys: a RELOAD ignores them and SHOW CONFIG says {@code changeable=no}. */
    public boolean reloadable() {
        return reloadable;
    }

    /** Canonical spellings for {@link Type#ENUM}; empty otherwise. */
    public List<String> allowedValues() {
        return allowedValues;
    }

    /** The setting whose value this one shares, or this one. */
    Setting storage() {
        return this == SERVICE_NAME ? JOB_NAME : this;
    }

    /**
     * Checks a value as PgBouncer's setter would.
     *
     * @return null when the value is acceptable, else the problem, naming the value and the key
     */
    public String validate(String value) {
        String reason = reason(value);
        return reason == null ? null : "invalid value \"" + value + "\" for parameter " + name + ": " + reason;
    }

    private String reason(String value) {
        switch (type) {
            case INT:
            case BOOL:
                try {
                    long v = parseCInteger(value);
                    if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                        return "out of range";
                    }
                } catch (NumberFormatException e) {
                    return type == Type.BOOL
                            ? "expected 0 (off) or 1 (on)"
                            : "expected an integer (decimal, 0x hexadecimal or 0 octal)";
                }
                return null;
            case UINT:
                try {
                    long v = parseCInteger(value);
                    if (v < 0 || v > 0xFFFF_FFFFL) {
                        return "out of range (0 to 4294967295)";
                    }
                } catch (NumberFormatException e) {
                    return "expected a non-negative integer";
                }
                return null;
            case TIME:
                if (!TIME_SYNTAX.matcher(value).matches()) {
                    return "expected a number of seconds such as 15 or 0.5 (no unit suffix)";
                }
                double seconds = Double.parseDouble(value);
                if (seconds < 0) {
                    return "must not be negative";
                }
                if (seconds * 1_000_000d >= Long.MAX_VALUE) {
                    return "out of range";
                }
                return null;
            case ENUM:
                return canonicalChoice(value) == null ? "expected one of " + String.join(", ", allowedValues) : null;
            case STRING:
                if (this == AUTH_DBNAME && "pgbouncer".equals(value)) {
                    return "cannot use the reserved \"pgbouncer\" database as an auth_dbname";
                }
                return null;
            default:
                throw new AssertionError(type);
        }
    }

    /** The canonical spelling of an enum value, or null. */
    String canonicalChoice(String value) {
        for (String allowed : allowedValues) {
            if (equalsIgnoreAsciiCase(allowed, value)) {
                return allowed;
            }
        }
        return null;
    }

    /** Microseconds of a valid TIME value, truncated like PgBouncer's {@code (usec_t)(USEC * v)}. */
    static long parseMicros(String value) {
        return (long) (1_000_000d * Double.parseDouble(value));
    }

    /**
     * C {@code strtol(s, &end, 0)} that must consume the whole string: optional sign, then {@code 0x} hex,
     * leading-zero octal or decimal.
     *
     * @throws NumberFormatException when the text is not such a number or does not fit in a long
     */
    static long parseCInteger(String s) {
        int i = 0;
        int n = s.length();
        boolean negative = false;
        if (i < n && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
            negative = s.charAt(i) == '-';
            i++;
        }
        int radix = 10;
        if (i + 1 < n && s.charAt(i) == '0' && (s.charAt(i + 1) == 'x' || s.charAt(i + 1) == 'X')) {
            radix = 16;
            i += 2;
        } else if (i < n && s.charAt(i) == '0') {
            radix = 8;
        }
        if (i >= n) {
            throw new NumberFormatException(s);
        }
        long result = 0;
        for (; i < n; i++) {
            int digit = Character.digit(s.charAt(i), radix);
            if (digit < 0 || s.charAt(i) > 'z') {
                throw new NumberFormatException(s);
            }
            try {
                result = Math.addExact(Math.multiplyExact(result, radix), digit);
            } catch (ArithmeticException e) {
                throw new NumberFormatException(s);
            }
        }
        return negative ? -result : result;
    }

    /** {@code strcasecmp}: ASCII only, so no locale or Unicode folding can make two names equal. */
    static boolean equalsIgnoreAsciiCase(String a, String b) {
        if (a == null || b == null || a.length() != b.length()) {
            return false;
        }
        for (int i = 0; i < a.length(); i++) {
            char x = a.charAt(i);
            char y = b.charAt(i);
            if (x >= 'A' && x <= 'Z') {
                x += 'a' - 'A';
            }
            if (y >= 'A' && y <= 'Z') {
                y += 'a' - 'A';
            }
            if (x != y) {
                return false;
            }
        }
        return true;
    }

    @Override
    public String toString() {
        return name;
    }
}
