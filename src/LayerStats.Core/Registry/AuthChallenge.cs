using System.Text;

namespace LayerStats.Core.Registry;

/// <summary>One <c>WWW-Authenticate</c> challenge: a scheme (Basic, Bearer) and its parameters (realm, service, scope…).</summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? Realm => Parameter("realm");

    public string? Service => Parameter("service");

    public string? Scope => Parameter("scope");

    public bool IsBearer => string.Equals(Scheme, "Bearer", StringComparison.OrdinalIgnoreCase);

    public bool IsBasic => string.Equals(Scheme, "Basic", StringComparison.OrdinalIgnoreCase);

    public string? Parameter(string name) => Parameters.TryGetValue(name, out var v) ? v : null;

    /// <summary>
    /// Parses every challenge of the <c>WWW-Authenticate</c> header values (RFC 7235: several challenges may share one
    /// value, separated by commas; parameter values may be quoted strings holding commas, '=' and escaped quotes).
    /// Parameter names are case-insensitive. Unparseable pieces are skipped, never thrown on.
    /// </summary>
    public static IReadOnlyList<AuthChallenge> ParseAll(IEnumerable<string> headerValues)
    {
        var result = new List<AuthChallenge>();
        foreach (string value in headerValues)
        {
            ParseInto(value, result);
        }

        return result;
    }

    public static IReadOnlyList<AuthChallenge> Parse(string headerValue) => ParseAll([headerValue]);

    private static void ParseInto(string s, List<AuthChallenge> result)
    {
        int i = 0;
        string? scheme = null;
        Dictionary<string, string>? parameters = null;

        void Flush()
        {
            if (scheme is not null)
            {
                result.Add(new AuthChallenge(scheme, parameters!));
            }
        }

        while (i < s.Length)
        {
            SkipSpaceAndCommas(s, ref i);
            if (i >= s.Length)
            {
                break;
            }

            string token = ReadToken(s, ref i);
            if (token.Length == 0)
            {
                if (s[i] == '"')
                {
                    _ = ReadQuoted(s, ref i); // a stray quoted string: skip it whole
                }
                else
                {
                    i++; // a stray character: skip it
                }

                continue;
            }

            int afterToken = i;
            SkipSpace(s, ref i);
            if (scheme is not null && i < s.Length && s[i] == '=')
            {
                // name=value: a parameter of the current challenge
                i++;
                SkipSpace(s, ref i);
                string value = i < s.Length && s[i] == '"' ? ReadQuoted(s, ref i) : ReadToken(s, ref i);
                parameters![token] = value;
                continue;
            }

            if (scheme is null && i < s.Length && s[i] == '=')
            {
                // a parameter with no scheme before it: malformed, skip the pair
                i++;
                SkipSpace(s, ref i);
                _ = i < s.Length && s[i] == '"' ? ReadQuoted(s, ref i) : ReadToken(s, ref i);
                continue;
            }

            // a new scheme (token68 credentials of a challenge are not used by registries: skipped as a parameter-less token)
            i = afterToken;
            Flush();
            scheme = token;
            parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        }

        Flush();
    }

    private static void SkipSpace(string s, ref int i)
    {
        while (i < s.Length && s[i] is ' ' or '\t')
        {
            i++;
        }
    }

    private static void SkipSpaceAndCommas(string s, ref int i)
    {
        while (i < s.Length && s[i] is ' ' or '\t' or ',')
        {
            i++;
        }
    }

    private static string ReadToken(string s, ref int i)
    {
        int start = i;
        while (i < s.Length && s[i] is not (' ' or '\t' or ',' or '=' or '"'))
        {
            i++;
        }

        return s[start..i];
    }

    private static string ReadQuoted(string s, ref int i)
    {
        var sb = new StringBuilder();
        i++; // opening quote
        while (i < s.Length && s[i] != '"')
        {
            if (s[i] == '\\' && i + 1 < s.Length)
            {
                i++;
            }

            sb.Append(s[i]);
            i++;
        }

        if (i < s.Length)
        {
            i++; // closing quote
        }

        return sb.ToString();
    }
}
