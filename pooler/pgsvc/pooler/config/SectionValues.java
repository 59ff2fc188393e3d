package pgsvc.pooler.config;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * The values of one of pgsvc's own sections ({@code [router]}, {@code [pgsvc]}), collected a line at a time so that
 * each problem is reported at its line. Keys are checked as {@code [pgbouncer]} keys are, by their {@link Setting},
 * plus the section's own range check; the last occurrence wins and unset keys take their defaults.
 */
final class SectionValues {
    private final Map<String, Setting> keys = new LinkedHashMap<>();
    private final BiFunction<Setting, String, String> rangeProblem;
    private final Map<Setting, String> values = new HashMap<>();

    /**
     * @param rangeProblem for a value already valid for its type, the limit it breaks in words, or null
     */
    SectionValues(List<Setting> settings, BiFunction<Setting, String, String> rangeProblem) {
        for (Setting s : settings) {
            keys.put(s.name(), s);
        }
        this.rangeProblem = rangeProblem;
    }

    /**
     * Takes one {@code key = value} line.
     *
     * @throws IllegalArgumentException {@code unknown parameter: <key>}, or the value's problem in the words of
     *         {@link Setting#validate}
     */
    void set(String key, String value) {
        Setting s = keys.get(key);
        if (s == null) {
            throw new IllegalArgumentException("unknown parameter: " + key);
        }
        String problem = s.validate(value);
        if (problem == null) {
            String reason = rangeProblem.apply(s, value);
            if (reason != null) {
                problem = "invalid value \"" + value + "\" for parameter " + key + ": " + reason;
            }
        }
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        values.put(s, value);
    }

    String get(Setting s) {
        return values.getOrDefault(s, s.defaultValue());
    }

    long micros(Setting s) {
        return Setting.parseMicros(get(s));
    }

    int count(Setting s) {
        return Math.toIntExact(Setting.parseCInteger(get(s)));
    }
}
