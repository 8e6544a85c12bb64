/// What `latchkey --version` prints and the server logs at start.
public enum LatchkeyVersion {
    public static let current = "0.13.0"
}
