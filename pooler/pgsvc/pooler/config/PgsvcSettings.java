package pgsvc.pooler.config;

import java.util.List;
import java.util.Objects;

/**
 * The {@code [pgsvc]} section: what pgsvc does that PgBouncer does not, outside the router. Keys are written and
 * parsed like {@code [pgbouncer]} keys (integers as C {@code strtol}, the last occurrence wins); unset keys take the
 * defaults in {@link #DEFAULTS}. Immutable.
 *
 * @param metricsAddr {@code metrics_addr}: where the Prometheus endpoint listens; {@code *} means every IPv4 and
 *                    IPv6 address, as for listen_addr. Default {@code 127.0.0.1}: the series name databases and
 *                    users, so exposing them is a choice
 * @param metricsPort {@code metrics_port}: the endpoint's TCP port; 0 (the default) turns it off
 */
public record PgsvcSettings(String metricsAddr, int metricsPort) {

    private static final Setting METRICS_ADDR =
            Setting.unlisted("metrics_addr", Setting.Type.STRING, "127.0.0.1", List.of());
    private static final Setting METRICS_PORT = Setting.unlisted("metrics_port", Setting.Type.INT, "0", List.of());

    /** The settings of a file without a {@code [pgsvc]} section: no metrics endpoint. */
    public static final PgsvcSettings DEFAULTS = new Parser().build();

    public PgsvcSettings {
        Objects.requireNonNull(metricsAddr, "metricsAddr");
        if (metricsPort < 0 || metricsPort > 65535) {
            throw new IllegalArgumentException("invalid metrics_port: " + metricsPort);
        }
    }

    /** Whether the Prometheus endpoint is on. */
    public boolean metricsEnabled() {
        return metricsPort > 0;
    }

    /** Collects {@code [pgsvc]} lines one at a time, so that each problem can be reported at its line. */
    static final class Parser {
        private final SectionValues values = new SectionValues(List.of(METRICS_ADDR, METRICS_PORT),
                Parser::rangeProblem);

        /** Takes one {@code key = value} line; see {@link SectionValues#set}. */
        void set(String key, String value) {
            values.set(key, value);
        }

        private static String rangeProblem(Setting s, String value) {
            if (s == METRICS_PORT) {
                long port = Setting.parseCInteger(value);
                return port < 0 || port > 65535 ? "expected a port from 1 to 65535, or 0 for off" : null;
            }
            if (s == METRICS_ADDR) {
                return value.isBlank() || value.contains(",")
                        ? "expected one address, a host name or * for every address" : null;
            }
            return null;
        }

        PgsvcSettings build() {
            return new PgsvcSettings(values.get(METRICS_ADDR).trim(), values.count(METRICS_PORT));
        }
    }
}
