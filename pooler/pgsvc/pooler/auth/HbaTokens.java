package pgsvc.pooler.auth;

/**
 * The tokens of one line of an HBA or ident file, as PgBouncer's {@code next_token} (src/hba.c) cuts them: a
 * {@code #} outside quotes ends the line; a comma is its own token; {@code "..."} is a STRING with {@code ""} for a
 * literal quote (an unterminated one is FAIL); anything else is an IDENT up to whitespace, a comma, {@code #} or
 * {@code "}. Keywords are IDENTs only, so {@code "all"} quoted is a name, not the keyword.
 */
final class HbaTokens {
    enum Type { IDENT, STRING, COMMA, EOL, FAIL }

    private final String line;
    private int pos;
    private Type type;
    private String text;

    HbaTokens(String line) {
        this.line = line;
        next();
    }

    Type type() {
        return type;
    }

    /** The current IDENT or STRING, unquoted; null for other tokens. */
    String text() {
        return text;
    }

    boolean isKeyword(String keyword) {
        return type == Type.IDENT && text.equals(keyword);
    }

    boolean isName() {
        return type == Type.IDENT || type == Type.STRING;
    }

    /** Moves to the next token; EOL and FAIL are final. */
    void next() {
        if (type == Type.EOL || type == Type.FAIL) {
            return;
        }
        text = null;
        int n = line.length();
        while (pos < n && isSpace(line.charAt(pos))) {
            pos++;
        }
        if (pos >= n || line.charAt(pos) == '#') {
            type = Type.EOL;
            return;
        }
        char c = line.charAt(pos);
        if (c == ',') {
            type = Type.COMMA;
            pos++;
        } else if (c == '"') {
            StringBuilder sb = new StringBuilder();
            int p = pos + 1;
            while (true) {
                if (p >= n) {
                    type = Type.FAIL;
                    return;
                }
                char q = line.charAt(p);
                if (q == '"') {
                    if (p + 1 < n && line.charAt(p + 1) == '"') {
                        sb.append('"');
                        p += 2;
                        continue;
                    }
                    break;
                }
                sb.append(q);
                p++;
            }
            pos = p + 1;
            type = Type.STRING;
            text = sb.toString();
        } else {
            int p = pos + 1;
            while (p < n) {
                char q = line.charAt(p);
                if (q == ',' || q == '#' || q == '"' || isSpace(q)) {
                    break;
                }
                p++;
            }
            type = Type.IDENT;
            text = line.substring(pos, p);
            pos = p;
        }
    }

    /** C's isspace in the C locale. */
    static boolean isSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0b;
    }
}
