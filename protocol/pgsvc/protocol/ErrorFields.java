package pgsvc.protocol;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The fields of an ErrorResponse or NoticeResponse, keyed by their one-letter codes ({@link Protocol.ErrorField}).
 * Immutable. Read with {@link Messages#readErrorFields}.
 */
public final class ErrorFields {

    private final Map<Character, String> fields;

    public ErrorFields(Map<Character, String> fields) {
        this.fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
    }

    /** A FATAL error of the pooler's own, e.g. to answer a client that cannot be served. */
    public static ErrorFields fatal(String sqlState, String message) {
        Map<Character, String> f = new LinkedHashMap<>();
        f.put((char) Protocol.ErrorField.SEVERITY, "FATAL");
        f.put((char) Protocol.ErrorField.SQLSTATE, sqlState);
        f.put((char) Protocol.ErrorField.MESSAGE, message);
        return new ErrorFields(f);
    }

    /** The field with the given code, or null if the message did not carry it. */
    public String field(char code) {
        return fields.get(code);
    }

    /** All fields in the order they were sent. */
    public Map<Character, String> fields() {
        return fields;
    }

    /**
     * The non-localized severity (V) when present, else the possibly localized one (S): ERROR, FATAL, PANIC for
     * errors; WARNING, NOTICE, DEBUG, INFO, LOG for notices.
     */
    public String severity() {
        String nonLocalized = field((char) Protocol.ErrorField.SEVERITY_NON_LOCALIZED);
        return nonLocalized != null ? nonLocalized : field((char) Protocol.ErrorField.SEVERITY);
    }

    /** The severity as the server sent it in S, possibly translated into the server's lc_messages. */
    public String localizedSeverity() {
        return field((char) Protocol.ErrorField.SEVERITY);
    }

    public String sqlState() {
        return field((char) Protocol.ErrorField.SQLSTATE);
    }

    public String message() {
        return field((char) Protocol.ErrorField.MESSAGE);
    }

    public String detail() {
        return field((char) Protocol.ErrorField.DETAIL);
    }

    public String hint() {
        return field((char) Protocol.ErrorField.HINT);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ErrorFields && fields.equals(((ErrorFields) o).fields);
    }

    @Override
    public int hashCode() {
        return fields.hashCode();
    }

    @Override
    public String toString() {
        return severity() + " " + sqlState() + " " + message();
    }
}
