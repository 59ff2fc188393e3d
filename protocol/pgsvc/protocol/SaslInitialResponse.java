package pgsvc.protocol;

/**
 * SASLInitialResponse: the mechanism the client chose and its first message (client-first-message for SCRAM).
 *
 * @param data the initial response, or null if the client sent length -1 (no initial response)
 */
public record SaslInitialResponse(String mechanism, byte[] data) {

    /** Leaves the response out: for PLAIN-like mechanisms it would be a credential. */
    @Override
    public String toString() {
        return "SASLInitialResponse[mechanism=" + mechanism + "]";
    }
}
