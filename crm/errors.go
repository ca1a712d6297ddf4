package crm

import "fmt"

// Error codes. The first two are shown on the API pages; the others follow
// their naming and description style for rules the pages state without
// showing the error (the README lists them all).
const (
	CodeNotFound              = "NotFoundAPIValueException"
	CodeReferredByAnother     = "ReferredByAnotherParticipantException"
	CodeMandatoryMissing      = "MandatoryAPIParameterMissingException"
	CodeInvalidIdentifier     = "InvalidAPIIdentifierException"
	CodeSemiOptional          = "SemiOptionalAPIParametersException"
	CodeInvalidValue          = "InvalidAPIValueException"
	CodeNotAllowedParameter   = "NotAllowedAPIParameterException"
	CodeInvalidClassification = "InvalidClassificationTypeException"
	CodeCurrencyMismatch      = "IntendedCurrencyMismatchException"
	CodePaymentTypeNotAllowed = "PaymentMediumTypeNotAllowedException"
	CodeAccessTokenNotEffect  = "AccessTokenNotEffectiveException"
	CodeInvalidPassCode       = "InvalidAccessTokenPassCodeException"
	CodeDuplicateRequestID    = "DuplicateRequestUniqueIdentifierException"
	CodeUnitMismatch          = "PerformedByUnitMismatchException"
	CodeTooManyEvents         = "MaximumCustomerEventsExceededException"
	CodeInvalidRequest        = "InvalidAPIRequestException"
	CodeEventNotFound         = "CustomerEventNotFoundException"
	CodeInvalidLifeCycleState = "InvalidCustomerEventLifeCycleStateException"
	CodeInvalidToken          = "InvalidTokenException"
	CodeAuthenticationFailed  = "AuthenticationFailedException"
	CodeInternal              = "InternalServerErrorException"
)

// Error is an API error: a code (an exception name) and the description
// CRM.COM gives it, "Error:<message>. - Description:<explanation>".
type Error struct {
	Code    string
	Message string // what went wrong, naming the value
	Reason  string // the general explanation, ending with a period
	// Field is the parameter the error is about, when there is one
	// ("performed_on", "products_set[2].total_amount").
	Field string
}

// Description renders the error as the API does in error_description.
func (e *Error) Description() string {
	return fmt.Sprintf("Error:%s. - Description:%s", e.Message, e.Reason)
}

func (e *Error) Error() string { return e.Code + ": " + e.Description() }

// NotFound is the error for an identifier value that matches nothing, as
// the pages show it: "Error:Account (ACR000177) Not Found. - ...".
func NotFound(entity, value string) *Error {
	return &Error{
		Code:    CodeNotFound,
		Message: fmt.Sprintf("%s (%s) Not Found", entity, value),
		Reason:  "The specified API value was not found.",
	}
}

// ReferredByAnother is the error for a participant that was referred before.
func ReferredByAnother(participant string) *Error {
	return &Error{
		Code:    CodeReferredByAnother,
		Message: fmt.Sprintf("Participant %s Was Already Referred by Another Participant", participant),
		Reason:  "The participant was already referred by another participant.",
	}
}

// TooManyEvents is the call-level error for a set of more than MaxBulkEvents.
func TooManyEvents(k Kind, n int) *Error {
	return &Error{
		Code:    CodeTooManyEvents,
		Message: fmt.Sprintf("The %s holds %d customer events; at most %d are allowed", k.SetName(), n, MaxBulkEvents),
		Reason:  fmt.Sprintf("The maximum number of customer events that can be specified within a single Web API call is %d.", MaxBulkEvents),
		Field:   k.SetName(),
	}
}
