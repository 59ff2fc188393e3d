package pgsvc.router;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A page in Prometheus's text exposition format 0.0.4: for each metric family a {@code # HELP} and a {@code # TYPE}
 * line, then its samples, each family's lines together. Written here rather than with a client library because every
 * series is a gauge or counter read from a snapshot once per scrape: the libraries' registered collectors are asked
 * synchronously on the scraping thread, while pgsvc's numbers arrive asynchronously from the event loops, and the
 * format needs no more than the escaping below. Families without samples are left out.
 */
final class PrometheusText {
    static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final Map<String, Family> families = new LinkedHashMap<>();

    /** One metric family: its name, type and help, and the sample lines written so far. */
    static final class Family {
        private final String name;
        private final String head;
        private final StringBuilder samples = new StringBuilder();

        private Family(String name, String head) {
            this.name = name;
            this.head = head;
        }

        /**
         * Adds a sample; {@code labels} alternate names and values. A null value is written as an empty string, as
         * pgbouncer_exporter writes a NULL column.
         */
        Family sample(double value, String... labels) {
            if (labels.length % 2 != 0) {
                throw new IllegalArgumentException("labels come in name/value pairs");
            }
            samples.append(name);
            if (labels.length > 0) {
                samples.append('{');
                for (int i = 0; i < labels.length; i += 2) {
                    if (i > 0) {
                        samples.append(',');
                    }
                    samples.append(labels[i]).append("=\"");
                    escapeLabel(samples, labels[i + 1] == null ? "" : labels[i + 1]);
                    samples.append('"');
                }
                samples.append('}');
            }
            samples.append(' ').append(value(value)).append('\n');
            return this;
        }
    }

    /**
     * Starts a family. {@code type} is {@code gauge} or {@code counter}; a name may be started only once per page,
     * since the format wants a family's samples together.
     */
    Family family(String name, String type, String help) {
        if (families.containsKey(name)) {
            throw new IllegalStateException("metric family " + name + " started twice");
        }
        StringBuilder head = new StringBuilder();
        head.append("# HELP ").append(name).append(' ');
        escapeHelp(head, help);
        head.append("\n# TYPE ").append(name).append(' ').append(type).append('\n');
        Family f = new Family(name, head.toString());
        families.put(name, f);
        return f;
    }

    /** The page: every family that has at least one sample. */
    String render() {
        StringBuilder out = new StringBuilder(16384);
        for (Family f : families.values()) {
            if (f.samples.length() > 0) {
                out.append(f.head).append(f.samples);
            }
        }
        return out.toString();
    }

    /** Integers without a decimal point, other numbers as Java prints doubles, which Prometheus's parser reads. */
    static String value(double v) {
        if (Double.isNaN(v)) {
            return "NaN";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "+Inf" : "-Inf";
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return Double.toString(v);
    }

    /** Label values escape backslash, double quote and line feed. */
    static void escapeLabel(StringBuilder out, String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> out.append("\\\\");
                case '"' -> out.append("\\\"");
                case '\n' -> out.append("\\n");
                default -> out.append(c);
            }
        }
    }

    /** HELP text escapes backslash and line feed only. */
    static void escapeHelp(StringBuilder out, String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                default -> out.append(c);
            }
        }
    }
}
