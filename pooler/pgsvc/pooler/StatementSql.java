package pgsvc.pooler;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

import io.netty.buffer.ByteBuf;

import pgsvc.protocol.FrameDecoder;

/**
 * The SQL that drops prepared statements, recognised where it lies in a batch: the CommandComplete tags of
 * {@code DEALLOCATE ALL} and {@code DISCARD ALL}, and a simple Query that is exactly {@code DEALLOCATE name}.
 */
final class StatementSql {
    private static final byte[] DEALLOCATE_ALL = "DEALLOCATE ALL".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DISCARD_ALL = "DISCARD ALL".getBytes(StandardCharsets.US_ASCII);

    private StatementSql() {
    }

    /** Whether the CommandComplete at {@code i} is DEALLOCATE ALL or DISCARD ALL: the session has no statement left. */
    static boolean dropsAllStatements(ByteBuf b, int i, int length) {
        int tagLength = length - FrameDecoder.HEADER_LENGTH - 1;
        byte[] tag = tagLength == DEALLOCATE_ALL.length ? DEALLOCATE_ALL
                : tagLength == DISCARD_ALL.length ? DISCARD_ALL : null;
        if (tag == null) {
            return false;
        }
        int from = FrameDecoder.bodyIndex(i);
        for (int j = 0; j < tag.length; j++) {
            if (b.getByte(from + j) != tag[j]) {
                return false;
            }
        }
        return true;
    }

    /**
     * The statement name of a query that is exactly {@code DEALLOCATE [PREPARE] name}, maybe with a semicolon, read
     * from {@code from} to {@code to} (the query's NUL) as PostgreSQL's parser reads it: unquoted names folded to
     * lower case, quoted ones as written. Null for anything else, {@code ALL} included.
     */
    static byte[] deallocateName(ByteBuf b, int from, int to) {
        int p = keyword(b, skipSpace(b, from, to), to, "deallocate");
        if (p < 0) {
            return null;
        }
        p = skipSpace(b, p, to);
        int afterPrepare = keyword(b, p, to, "prepare");
        if (afterPrepare >= 0) {
            byte[] name = nameThenEnd(b, skipSpace(b, afterPrepare, to), to);
            if (name != null) {
                return name.length == 0 ? null : name;
            }
        }
        byte[] name = nameThenEnd(b, p, to);
        return name == null || name.length == 0 ? null : name;
    }

    /** An identifier, then only whitespace and one optional semicolon to the end; empty for unquoted ALL. */
    private static byte[] nameThenEnd(ByteBuf b, int p, int to) {
        if (p >= to) {
            return null;
        }
        ByteArrayOutputStream name = new ByteArrayOutputStream(32);
        boolean quoted = b.getByte(p) == '"';
        if (quoted) {
            p++;
            while (true) {
                if (p >= to) {
                    return null;
                }
                byte c = b.getByte(p++);
                if (c == '"') {
                    if (p < to && b.getByte(p) == '"') {
                        p++;
                    } else {
                        break;
                    }
                }
                name.write(c);
            }
            if (name.size() == 0) {
                return null;
            }
        } else {
            if (!identifierStart(b.getByte(p))) {
                return null;
            }
            while (p < to && identifierPart(b.getByte(p))) {
                byte c = b.getByte(p++);
                name.write(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
            }
        }
        p = skipSpace(b, p, to);
        if (p < to && b.getByte(p) == ';') {
            p = skipSpace(b, p + 1, to);
        }
        if (p != to) {
            return null;
        }
        byte[] bytes = name.toByteArray();
        if (!quoted && bytes.length == 3 && bytes[0] == 'a' && bytes[1] == 'l' && bytes[2] == 'l') {
            return new byte[0];
        }
        return bytes;
    }

    /** Index after a case-insensitive keyword at {@code p} that no identifier character follows, or -1. */
    private static int keyword(ByteBuf b, int p, int to, String word) {
        if (p < 0 || to - p < word.length()) {
            return -1;
        }
        for (int j = 0; j < word.length(); j++) {
            if ((b.getByte(p + j) | 0x20) != word.charAt(j)) {
                return -1;
            }
        }
        int after = p + word.length();
        return after < to && identifierPart(b.getByte(after)) ? -1 : after;
    }

    private static int skipSpace(ByteBuf b, int p, int to) {
        while (p < to && isSpace(b.getByte(p))) {
            p++;
        }
        return p;
    }

    static boolean isSpace(byte c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0b;
    }

    private static boolean identifierStart(byte c) {
        return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c < 0;
    }

    private static boolean identifierPart(byte c) {
        return identifierStart(c) || c >= '0' && c <= '9' || c == '$';
    }
}
