package pgsvc.pooler;

import java.util.ArrayList;
import java.util.List;

import pgsvc.protocol.Messages;

/** A console result set: columns with their types, rows of text values (null for SQL NULL). */
public record ConsoleTable(List<Messages.Column> columns, List<List<String>> rows) {

    /** A table with text columns by name; rows are added with {@link #row(Object...)}. */
    public static ConsoleTable of(String... textColumns) {
        List<Messages.Column> cols = new ArrayList<>();
        for (String name : textColumns) {
            cols.add(new Messages.Column(name, 25));
        }
        return new ConsoleTable(cols, new ArrayList<>());
    }

    /** A table from (name, type OID) pairs, e.g. {@code typed("database", 25, "cl_active", 23)}. */
    public static ConsoleTable typed(Object... nameTypePairs) {
        List<Messages.Column> cols = new ArrayList<>();
        for (int i = 0; i < nameTypePairs.length; i += 2) {
            cols.add(new Messages.Column((String) nameTypePairs[i], (Integer) nameTypePairs[i + 1]));
        }
        return new ConsoleTable(cols, new ArrayList<>());
    }

    public ConsoleTable row(Object... values) {
        List<String> r = new ArrayList<>(values.length);
        for (Object v : values) {
            r.add(v == null ? null : v.toString());
        }
        rows.add(r);
        return this;
    }
}
