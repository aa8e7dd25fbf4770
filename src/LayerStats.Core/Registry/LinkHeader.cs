namespace LayerStats.Core.Registry;

/// <summary>RFC 8288 <c>Link</c> headers as the distribution API uses them for pagination.</summary>
public static class LinkHeader
{
    /// <summary>
    /// The target of the <c>rel="next"</c> link (rel may be a space-separated list), resolved against the request URI
    /// (registries send <c>&lt;/v2/_catalog?last=x&amp;n=100&gt;</c>, relative, or absolute URLs). Null when there is none.
    /// </summary>
    public static Uri? Next(IEnumerable<string> headerValues, Uri requestUri)
    {
        foreach (string value in headerValues)
        {
            foreach (var (target, parameters) in Links(value))
            {
                if (parameters.TryGetValue("rel", out string? rel)
                    && rel.Split(' ', StringSplitOptions.RemoveEmptyEntries).Any(r => string.Equals(r, "next", StringComparison.OrdinalIgnoreCase))
                    && Uri.TryCreate(requestUri, target, out var next))
                {
                    return next;
                }
            }
        }

        return null;
    }

    /// <summary>The links of one header value: <c>&lt;target&gt;; name=value; name="quoted, value"</c>, separated by commas.</summary>
    public static IEnumerable<(string Target, IReadOnlyDictionary<string, string> Parameters)> Links(string value)
    {
        var result = new List<(string, IReadOnlyDictionary<string, string>)>();
        int i = 0;
        while (i < value.Length)
        {
            int open = value.IndexOf('<', i);
            if (open < 0)
            {
                break;
            }

            int close = value.IndexOf('>', open + 1);
            if (close < 0)
            {
                break;
            }

            string target = value[(open + 1)..close].Trim();
            var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            i = close + 1;
            while (i < value.Length)
            {
                while (i < value.Length && value[i] is ' ' or '\t')
                {
                    i++;
                }

                if (i >= value.Length || value[i] == ',')
                {
                    i++;
                    break;
                }

                if (value[i] != ';')
                {
                    i++;
                    continue;
                }

                i++;
                while (i < value.Length && value[i] is ' ' or '\t')
                {
                    i++;
                }

                int nameStart = i;
                while (i < value.Length && value[i] is not ('=' or ';' or ',' or ' ' or '\t'))
                {
                    i++;
                }

                string name = value[nameStart..i];
                while (i < value.Length && value[i] is ' ' or '\t')
                {
                    i++;
                }

                string paramValue = "";
                if (i < value.Length && value[i] == '=')
                {
                    i++;
                    while (i < value.Length && value[i] is ' ' or '\t')
                    {
                        i++;
                    }

                    if (i < value.Length && value[i] == '"')
                    {
                        int end = i + 1;
                        var sb = new System.Text.StringBuilder();
                        while (end < value.Length && value[end] != '"')
                        {
                            if (value[end] == '\\' && end + 1 < value.Length)
                            {
                                end++;
                            }

                            sb.Append(value[end]);
                            end++;
                        }

                        paramValue = sb.ToString();
                        i = Math.Min(end + 1, value.Length);
                    }
                    else
                    {
                        int start = i;
                        while (i < value.Length && value[i] is not (';' or ',' or ' ' or '\t'))
                        {
                            i++;
                        }

                        paramValue = value[start..i];
                    }
                }

                if (name.Length > 0)
                {
                    parameters[name] = paramValue;
                }
            }

            result.Add((target, parameters));
        }

        return result;
    }
}
