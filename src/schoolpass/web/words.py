"""The words of the public pages, in English and Spanish (a recipient's language comes from the roster)."""

WORDS = {
    "en": {
        "title": "School testing program",
        "intro": "This page has information for {name} from the school testing program.",
        "ask": "To see it, enter {name}'s date of birth.",
        "birth_date": "Date of birth (YYYY-MM-DD)",
        "show": "Show",
        "wrong": "That date of birth does not match. Tries left: {left}.",
        "gone": "This link has expired. Links work for 10 days. Please contact your school for a new one.",
        "locked": "This link is locked because a wrong date of birth was entered too many times. "
                  "Please contact your school.",
        "unknown": "This link is not valid. Please check that you copied the whole link, or contact your school.",
        "no_birth_date": "We cannot show these details online. Please contact your school.",
        "too_many": "Too many attempts from your connection. Please wait a few minutes and try again.",
        "status_on": "Status on {date}",
        "statuses": {"cleared": "Cleared for school", "test-due": "A screening test is due",
                     "isolating": "Staying home (isolating)", "exempt": "Not required to test for now"},
        "return_on": "May return on", "exempt_until": "Not required to test until", "next_test_due": "Next test due",
        "result": "Result", "collected": "Sample collected", "test": "Test code",
        "results": {"positive": "Positive", "negative": "Negative", "inconclusive": "Inconclusive (please test again)"},
        "by": "Please be tested by {date}.",
        "questions": "Questions? Contact your school's health office.",
    },
    "es": {
        "title": "Programa de pruebas escolares",
        "intro": "Esta página tiene información del programa de pruebas escolares para {name}.",
        "ask": "Para verla, ingrese la fecha de nacimiento de {name}.",
        "birth_date": "Fecha de nacimiento (AAAA-MM-DD)",
        "show": "Mostrar",
        "wrong": "Esa fecha de nacimiento no coincide. Intentos restantes: {left}.",
        "gone": "Este enlace venció. Los enlaces funcionan durante 10 días. Comuníquese con su escuela para "
                "obtener uno nuevo.",
        "locked": "Este enlace está bloqueado porque se ingresó una fecha de nacimiento incorrecta demasiadas "
                  "veces. Comuníquese con su escuela.",
        "unknown": "Este enlace no es válido. Verifique que copió el enlace completo o comuníquese con su escuela.",
        "no_birth_date": "No podemos mostrar estos detalles en línea. Comuníquese con su escuela.",
        "too_many": "Demasiados intentos desde su conexión. Espere unos minutos e inténtelo de nuevo.",
        "status_on": "Situación el {date}",
        "statuses": {"cleared": "Puede asistir a la escuela", "test-due": "Debe hacerse una prueba de detección",
                     "isolating": "Debe quedarse en casa (aislamiento)", "exempt": "Por ahora no necesita hacerse pruebas"},
        "return_on": "Puede regresar el", "exempt_until": "No necesita pruebas hasta el",
        "next_test_due": "Próxima prueba", "result": "Resultado", "collected": "Muestra tomada", "test": "Código de prueba",
        "results": {"positive": "Positivo", "negative": "Negativo", "inconclusive": "No concluyente (repita la prueba)"},
        "by": "Hágase la prueba a más tardar el {date}.",
        "questions": "¿Preguntas? Comuníquese con la oficina de salud de su escuela.",
    },
}
