package pgsvc.pooler.config;

import java.util.List;
import java.util.Objects;

/**
 * The {@code [router]} section: how the members in {@code [hosts]} are health-checked. Keys are written and parsed
 * like {@code [pgbouncer]} keys (times in float seconds without a unit, integers as C {@code strtol}, enums
 * case-insensitive, the last occurrence wins); unset keys take the defaults in {@link #DEFAULTS}, which are Pigsty's
 * {@code norm} RTO plan ({@code inter 2s fastinter 1s downinter 2s rise 3 fall 3}, check timeout 3 s). Immutable.
 *
 * @param check                   {@code check}: SQL session or Patroni REST API
 * @param checkUser               {@code check_user}: the role SQL checks log in as, its password taken from
 *                                {@code auth_file}; null when unset (required for SQL checks once {@code [hosts]} has
 *                                members)
 * @param checkDbname             {@code check_dbname}: the database SQL checks connect to
 * @param checkIntervalMicros     {@code check_interval}: between checks of a steady member (HAProxy's {@code inter})
 * @param checkFastIntervalMicros {@code check_fast_interval}: between checks of a member that is rising, falling or
 *                                not yet checked ({@code fastinter})
 * @param checkDownIntervalMicros {@code check_down_interval}: between checks of a member that is down
 *                                ({@code downinter})
 * @param checkTimeoutMicros      {@code check_timeout}: a check that has not answered by then failed
 * @param rise                    {@code rise}: consecutive passes that bring a member up
 * @param fall                    {@code fall}: consecutive failures that take a member down
 * @param patroniPort             {@code patroni_port}: Patroni's REST port where a host does not set its own
 */
public record RouterSettings(CheckMethod check, String checkUser, String checkDbname, long checkIntervalMicros,
        long checkFastIntervalMicros, long checkDownIntervalMicros, long checkTimeoutMicros, int rise, int fall,
        int patroniPort) {

    private static final Setting CHECK = Setting.unlisted("check", Setting.Type.ENUM, "sql", List.of("sql", "patroni"));
    private static final Setting CHECK_USER = Setting.unlisted("check_user", Setting.Type.STRING, null, List.of());
    private static final Setting CHECK_DBNAME =
            Setting.unlisted("check_dbname", Setting.Type.STRING, "postgres", List.of());
    private static final Setting CHECK_INTERVAL = time("check_interval", "2");
    private static final Setting CHECK_FAST_INTERVAL = time("check_fast_interval", "1");
    private static final Setting CHECK_DOWN_INTERVAL = time("check_down_interval", "2");
    private static final Setting CHECK_TIMEOUT = time("check_timeout", "3");
    private static final Setting RISE = integer("rise", "3");
    private static final Setting FALL = integer("fall", "3");
    private static final Setting PATRONI_PORT = integer("patroni_port", "8008");

    /** The settings of a file without a {@code [router]} section. */
    public static final RouterSettings DEFAULTS = new Parser().build();

    public RouterSettings {
        Objects.requireNonNull(check, "check");
        Objects.requireNonNull(checkDbname, "checkDbname");
        if (checkIntervalMicros <= 0 || checkFastIntervalMicros <= 0 || checkDownIntervalMicros <= 0
                || checkTimeoutMicros <= 0) {
            throw new IllegalArgumentException("check intervals and timeout must be greater than 0");
        }
        if (rise < 1 || fall < 1) {
            throw new IllegalArgumentException("rise and fall must be at least 1");
        }
        if (patroniPort <= 0 || patroniPort > 65535) {
            throw new IllegalArgumentException("invalid patroni_port: " + patroniPort);
        }
    }

    private static Setting time(String name, String defaultValue) {
        return Setting.unlisted(name, Setting.Type.TIME, defaultValue, List.of());
    }

    private static Setting integer(String name, String defaultValue) {
        return Setting.unlisted(name, Setting.Type.INT, defaultValue, List.of());
    }

    /** Collects {@code [router]} lines one at a time, so that each problem can be reported at its line. */
    static final class Parser {
        private final SectionValues values = new SectionValues(List.of(CHECK, CHECK_USER, CHECK_DBNAME,
                CHECK_INTERVAL, CHECK_FAST_INTERVAL, CHECK_DOWN_INTERVAL, CHECK_TIMEOUT, RISE, FALL, PATRONI_PORT),
                Parser::rangeProblem);

        /** Takes one {@code key = value} line; see {@link SectionValues#set}. */
        void set(String key, String value) {
            values.set(key, value);
        }

        /** Limits beyond the type's syntax; {@code value} is already valid for the type. */
        private static String rangeProblem(Setting s, String value) {
            if (s.type() == Setting.Type.TIME) {
                return Setting.parseMicros(value) <= 0 ? "must be greater than 0" : null;
            }
            if (s == RISE || s == FALL) {
                return Setting.parseCInteger(value) < 1 ? "must be at least 1" : null;
            }
            if (s == PATRONI_PORT) {
                long port = Setting.parseCInteger(value);
                return port < 1 || port > 65535 ? "expected a port from 1 to 65535" : null;
            }
            if (s == CHECK_DBNAME) {
                return value.isEmpty() ? "must not be empty" : null;
            }
            return null;
        }

        RouterSettings build() {
            String user = values.get(CHECK_USER);
            return new RouterSettings(CheckMethod.fromConfig(values.get(CHECK)),
                    user == null || user.isEmpty() ? null : user, values.get(CHECK_DBNAME),
                    values.micros(CHECK_INTERVAL), values.micros(CHECK_FAST_INTERVAL),
                    values.micros(CHECK_DOWN_INTERVAL), values.micros(CHECK_TIMEOUT), values.count(RISE),
                    values.count(FALL), values.count(PATRONI_PORT));
        }
    }
}
