package controllers

import "encoding/json"

// convertJSON copies in into out through their JSON form, for types that share one (an
// apply configuration and its typed object).
func convertJSON(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
